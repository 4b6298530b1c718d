//! RFC 4475 torture messages, at the message layer: every valid message parses and
//! validates, every invalid one is refused with the answer the RFC asks for.

use std::fs;
use std::path::{Path, PathBuf};

use sipmsg::{Framing, HeaderName, Message, Method, ParseError};

fn vectors(folder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(folder);
    let mut files: Vec<PathBuf> =
        fs::read_dir(&dir).expect("vector folder").map(|e| e.expect("entry").path()).collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).expect("utf-8 name").trim_end_matches(".sip").to_owned();
            (name, fs::read(&p).expect("readable"))
        })
        .collect()
}

fn load(folder: &str, name: &str) -> Vec<u8> {
    vectors(folder).into_iter().find(|(n, _)| n == name).map(|(_, b)| b).expect("vector exists")
}

fn parse_and_validate(bytes: &[u8]) -> Result<Message<'_>, ParseError> {
    let m = Message::parse(bytes, Framing::Datagram)?;
    m.validate()?;
    Ok(m)
}

#[test]
fn all_49_messages_are_present() {
    let n = vectors("valid").len() + vectors("invalid").len() + vectors("app").len();
    assert_eq!(n, 49);
}

#[test]
fn every_valid_message_parses_and_validates() {
    for (name, bytes) in vectors("valid") {
        if let Err(e) = parse_and_validate(&bytes) {
            panic!("{name}: {e:?}");
        }
    }
}

#[test]
fn every_application_layer_message_is_syntactically_valid() {
    for (name, bytes) in vectors("app") {
        if let Err(e) = parse_and_validate(&bytes) {
            panic!("{name}: {e:?}");
        }
    }
}

#[test]
fn every_invalid_message_is_refused_with_the_rfc_answer() {
    for (name, bytes) in vectors("invalid") {
        let expected = name.rsplit('.').next().expect("code in name");
        let Err(err) = parse_and_validate(&bytes) else { panic!("{name}: accepted") };
        match expected {
            "drop" => assert!(bytes.starts_with(b"SIP/2.0 "), "{name}: only responses are dropped"),
            // 501 for an unknown method is the engine's call; the message itself is a 400.
            "501" => assert_eq!(err, ParseError::CSeqMethod, "{name}"),
            code => assert_eq!(err.status().0.to_string(), code, "{name}: {err:?}"),
        }
    }
}

#[test]
fn wsinv_fields() {
    let bytes = load("valid", "wsinv");
    let m = parse_and_validate(&bytes).expect("valid");
    assert_eq!(m.method(), Some(Method::Invite));
    assert_eq!(m.to().and_then(|t| t.tag()), Some("1918181833n"));
    assert_eq!(m.from().and_then(|f| f.tag()), Some("98asjd8"));
    assert_eq!(m.max_forwards(), Some(68));
    assert_eq!(m.cseq().map(|c| (c.seq, c.method)), Some((9, Method::Invite)));
    let vias: Vec<_> = m.values(HeaderName::Via).filter_map(sipmsg::Via::parse).collect();
    assert_eq!(
        vias.iter().map(|v| (v.transport, v.host)).collect::<Vec<_>>(),
        vec![("UDP", "192.0.2.2"), ("TCP", "spindle.example.com"), ("UDP", "192.168.255.111")]
    );
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    let contact = m.contacts().next().flatten().expect("one contact");
    assert_eq!(contact.q(), 330);
    assert_eq!(m.header(HeaderName::Subject), Some(""));
    assert_eq!(m.body().len(), 150);
}

#[test]
fn intmeth_fields() {
    let bytes = load("valid", "intmeth");
    let m = parse_and_validate(&bytes).expect("valid");
    assert_eq!(m.method(), Some(Method::Extension("!interesting-Method0123456789_*+`.%indeed'~")));
    assert_eq!(m.call_id(), Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"));
    assert_eq!(m.from().and_then(|f| f.tag()), Some("_token~1'+`*%!-."));
    assert_eq!(m.max_forwards(), Some(255));
}

#[test]
fn esc02_has_two_contacts_and_an_unknown_header() {
    let bytes = load("valid", "esc02");
    let m = parse_and_validate(&bytes).expect("valid");
    assert_eq!(m.method(), Some(Method::Extension("RE%47IST%45R")));
    assert_eq!(m.contacts().count(), 2);
    assert!(m.headers().iter().any(|h| h.name == HeaderName::Other && h.raw_name == "C%6Fntact"));
}

#[test]
fn longreq_keeps_all_34_vias() {
    let bytes = load("valid", "longreq");
    let m = parse_and_validate(&bytes).expect("valid");
    assert_eq!(m.values(HeaderName::Via).count(), 34);
    assert_eq!(m.to().and_then(|t| t.uri.as_sip().and_then(|u| u.port)), Some(6000));
}

#[test]
fn dblreq_ignores_the_second_request_in_the_datagram() {
    let bytes = load("valid", "dblreq");
    let m = parse_and_validate(&bytes).expect("valid");
    assert_eq!(m.method(), Some(Method::Register));
    assert!(m.body().is_empty());
    assert!(m.as_bytes().len() < bytes.len());
}

#[test]
fn responses_with_unusual_reasons() {
    let bytes = load("valid", "unreason");
    let m = parse_and_validate(&bytes).expect("valid");
    assert_eq!(m.status(), Some(200));
    let bytes = load("valid", "noreason");
    let m = parse_and_validate(&bytes).expect("valid");
    assert_eq!(m.start_line(), &sipmsg::StartLine::Response { code: 100, reason: "" });
}

#[test]
fn mpart01_binary_body_is_framed_by_content_length() {
    let bytes = load("valid", "mpart01");
    let m = parse_and_validate(&bytes).expect("valid");
    assert!(m.body().contains(&0));
    assert_eq!(m.as_bytes().len(), bytes.len());
}

#[test]
fn clerr_on_a_stream_waits_for_more_bytes() {
    let bytes = load("invalid", "clerr.400");
    assert_eq!(Message::parse(&bytes, Framing::Stream).err(), Some(ParseError::Incomplete));
}

#[test]
fn ncl_is_refused_on_a_stream_too() {
    let bytes = load("invalid", "ncl.400");
    assert_eq!(Message::parse(&bytes, Framing::Stream).err(), Some(ParseError::ContentLength));
}
