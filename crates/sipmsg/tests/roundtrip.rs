//! Property tests: what the builder prints parses back to the same fields, and parsing
//! what a message prints is stable.

use proptest::prelude::*;
use sipmsg::{Framing, HeaderName, Message, MessageBuilder, Method};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,15}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
        "(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}"
    ]
}

fn method() -> impl Strategy<Value = Method<'static>> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Register),
        Just(Method::Options),
        Just(Method::Bye),
        Just(Method::Info),
        Just(Method::Extension("FOO")),
    ]
}

proptest! {
    #[test]
    fn built_requests_parse_back(
        m in method(),
        user in "[0-9]{3,6}",
        h in host(),
        port in proptest::option::of(1u16..),
        branch in token(),
        tag in token(),
        call_id in "[A-Za-z0-9.@-]{1,40}",
        seq in any::<u32>(),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        extra in proptest::collection::vec((token(), "[ -~]{0,30}"), 0..8),
    ) {
        let uri = match port { Some(p) => format!("sip:{user}@{h}:{p}"), None => format!("sip:{user}@{h}") };
        let mut b = MessageBuilder::request(m, &uri);
        b.header("Via", &format!("SIP/2.0/UDP {h};branch=z9hG4bK{branch}"));
        b.header("From", &format!("<sip:caller@{h}>;tag={tag}"));
        b.header("To", &format!("<{uri}>"));
        b.header("Call-ID", &call_id);
        b.header("CSeq", &format!("{seq} {m}"));
        for (name, value) in &extra {
            b.header(&format!("X-{name}"), value.trim());
        }
        let bytes = b.finish(Some("application/octet-stream"), &body);
        let parsed = Message::parse(&bytes, Framing::Datagram).expect("printed message parses");
        parsed.validate().expect("printed message validates");
        prop_assert_eq!(parsed.method(), Some(m));
        prop_assert_eq!(parsed.request_uri(), Some(uri.as_str()));
        prop_assert_eq!(parsed.call_id(), Some(call_id.as_str()));
        prop_assert_eq!(parsed.cseq().map(|c| c.seq), Some(seq));
        let expected_branch = format!("z9hG4bK{branch}");
        prop_assert_eq!(parsed.top_via().and_then(|v| v.branch()), Some(expected_branch.as_str()));
        prop_assert_eq!(parsed.from().and_then(|f| f.tag()), Some(tag.as_str()));
        prop_assert_eq!(parsed.body(), &body[..]);
        prop_assert_eq!(parsed.headers().iter().filter(|h| h.name == HeaderName::Other).count(), extra.len());
        // print -> parse -> print is a fixed point
        let again = Message::parse(parsed.as_bytes(), Framing::Stream).expect("stable");
        prop_assert_eq!(again.as_bytes(), parsed.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for framing in [Framing::Datagram, Framing::Stream] {
            if let Ok(m) = Message::parse(&bytes, framing) {
                let _ = m.validate();
                let _ = m.contacts().count();
                let _ = m.top_via();
            }
        }
    }
}
