//! Building the messages of the hostile grammar: realistic by default, each field
//! replaceable by a mutated [`Field`]. Bytes, not strings: a field may be no UTF-8.

use std::net::SocketAddr;

use serde_json::{json, Value};
use sipmsg::{Framing, HeaderName, Message, MessageBuilder, Method, ViaStamp};

use super::grammar::{Code, DeskOp, Expires, Field, Header, InDialog, Tag};

const SDP: &str =
    "v=0\r\no=fz 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
/// The To tag every callee answers with.
const CALLEE_TAG: &str = "callee";

/// The Call-ID of hostile call `call`.
pub(super) fn call_id(call: u8) -> String {
    format!("fz{call}@gw")
}

/// `normal`, or what `field` makes of it.
fn value(field: &Field, normal: &str) -> Vec<u8> {
    match field {
        Field::Normal => normal.as_bytes().to_vec(),
        Field::Empty => Vec::new(),
        Field::Huge(n) => vec![b'a'; usize::from(*n)],
        Field::NotUtf8 => [normal.as_bytes(), b"\xff\xfe\xc3"].concat(),
        Field::Bytes(b) => b.iter().take(64).copied().collect(),
    }
}

/// A message from a start line, headers and a body (Content-Length from the body).
fn message(start: &[u8], headers: &[(&str, Vec<u8>)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + body.len());
    out.extend_from_slice(start);
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// A REGISTER for `dn` from `src`.
pub(super) fn register(src: SocketAddr, dn: &str, contact: &Field, expires: Expires, cseq: u8, star: bool) -> Vec<u8> {
    let contact = if star { b"*".to_vec() } else { value(contact, &format!("<sip:{dn}@{src}>")) };
    let mut headers = vec![
        ("Via", format!("SIP/2.0/UDP {src};branch=z9hG4bKreg{dn}{cseq};rport").into_bytes()),
        ("Max-Forwards", b"70".to_vec()),
        ("From", format!("<sip:{dn}@tandem>;tag=r{cseq}").into_bytes()),
        ("To", format!("<sip:{dn}@tandem>").into_bytes()),
        ("Call-ID", format!("reg-{dn}-{src}").into_bytes()),
        ("CSeq", format!("{cseq} REGISTER").into_bytes()),
        ("Contact", contact),
    ];
    let expires = match expires {
        Expires::Absent => None,
        Expires::Zero => Some("0"),
        Expires::Brief => Some("5"),
        Expires::Hour => Some("3600"),
        Expires::Overflow => Some("99999999999999999999"),
    };
    if let Some(e) = expires {
        headers.push(("Expires", e.as_bytes().to_vec()));
    }
    message(b"REGISTER sip:tandem SIP/2.0", &headers, b"")
}

/// A gateway's INVITE for `dn` at `site`, with `mutations` applied in order.
pub(super) fn invite(src: SocketAddr, site: SocketAddr, dn: &str, call: u8, mutations: &[(Header, Field)]) -> Vec<u8> {
    let mut uri = format!("sip:{dn}@{site}").into_bytes();
    let mut body = SDP.as_bytes().to_vec();
    let mut headers = vec![
        ("Via", format!("SIP/2.0/UDP {src};branch=z9hG4bKinv{call};rport").into_bytes()),
        ("Max-Forwards", b"70".to_vec()),
        ("From", format!("<sip:+1202555{call:04}@gw>;tag=gw{call}").into_bytes()),
        ("To", format!("<sip:{dn}@{site}>").into_bytes()),
        ("Call-ID", call_id(call).into_bytes()),
        ("CSeq", b"1 INVITE".to_vec()),
        ("Contact", format!("<sip:gw@{src}>").into_bytes()),
        ("Content-Type", b"application/sdp".to_vec()),
    ];
    for (header, field) in mutations.iter().take(8) {
        let name = match header {
            Header::RequestUri => {
                uri = value(field, &String::from_utf8_lossy(&uri));
                continue;
            }
            Header::Body => {
                body = value(field, SDP);
                continue;
            }
            Header::Via => "Via",
            Header::From => "From",
            Header::To => "To",
            Header::CallId => "Call-ID",
            Header::CSeq => "CSeq",
            Header::Contact => "Contact",
            Header::MaxForwards => "Max-Forwards",
            Header::ContentType => "Content-Type",
            Header::CallUuid => "X-Genesys-CallUUID",
            Header::UserData => "X-Tandem-UserData",
            Header::Authorization => "Authorization",
            Header::Seal => "X-Tandem-Seal",
            Header::Extra => "X-Extra",
        };
        let normal = match header {
            Header::UserData => r#"{"Segment":"gold"}"#.to_owned(),
            Header::Authorization => concat!(
                r#"Digest username="1001", realm="hostile", nonce="00006b0f20cff6a8776ce10a6a680a75f272c33e4d90d8cde30afa301f81", "#,
                r#"uri="sip:127.0.0.1:5060", response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001, cnonce="c""#
            )
            .to_owned(),
            Header::Seal => "t=0;mac=000102030405060708090a0b0c0d0e0f".to_owned(),
            _ => headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default(),
        };
        let new = value(field, &normal);
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = new,
            None => headers.push((name, new)),
        }
    }
    let start = [b"INVITE ".as_slice(), &uri, b" SIP/2.0"].concat();
    message(&start, &headers, &body)
}

/// The gateway's CANCEL of call `call`.
pub(super) fn cancel(src: SocketAddr, site: SocketAddr, call: u8, wrong_branch: bool) -> Vec<u8> {
    let branch = if wrong_branch { format!("z9hG4bKother{call}") } else { format!("z9hG4bKinv{call}") };
    let headers = [
        ("Via", format!("SIP/2.0/UDP {src};branch={branch};rport").into_bytes()),
        ("Max-Forwards", b"70".to_vec()),
        ("From", format!("<sip:+1202555{call:04}@gw>;tag=gw{call}").into_bytes()),
        ("To", b"<sip:1000@tandem>".to_vec()),
        ("Call-ID", call_id(call).into_bytes()),
        ("CSeq", b"1 CANCEL".to_vec()),
    ];
    message(format!("CANCEL sip:1000@{site} SIP/2.0").as_bytes(), &headers, b"")
}

fn method(m: InDialog) -> Method<'static> {
    match m {
        InDialog::Ack => Method::Ack,
        InDialog::Bye => Method::Bye,
        InDialog::Invite => Method::Invite,
        InDialog::Update => Method::Update,
        InDialog::Info => Method::Info,
        InDialog::Notify => Method::Notify,
    }
}

/// `value` (a From/To header value) with its tag as `tag` says.
fn tagged(value: &str, tag: Tag, right: Option<&str>) -> String {
    let bare = value.split(";tag=").next().unwrap_or(value);
    match (tag, right) {
        (Tag::Right, Some(t)) => format!("{bare};tag={t}"),
        (Tag::Wrong, _) => format!("{bare};tag=nobody"),
        _ => bare.to_owned(),
    }
}

fn in_dialog(m: Method<'_>, target: &str, via: SocketAddr, from: &str, to: &str, call_id: &str, cseq: u32) -> Vec<u8> {
    let mut b = MessageBuilder::request(m, target);
    b.header_fmt("Via", format_args!("SIP/2.0/UDP {via};branch=z9hG4bKdlg{cseq};rport"));
    b.header("Max-Forwards", "70");
    b.header("From", from);
    b.header("To", to);
    b.header("Call-ID", call_id);
    b.header_fmt("CSeq", format_args!("{} {m}", if m == Method::Ack { 1 } else { cseq }));
    if matches!(m, Method::Invite | Method::Update) {
        b.header_fmt("Contact", format_args!("<sip:fz@{via}>"));
        return b.finish(Some("application/sdp"), SDP.as_bytes());
    }
    b.finish(None, b"")
}

/// The gateway's request inside the dialog the site's `answer` (to its INVITE) set up.
pub(super) fn caller_in_dialog(answer: &[u8], site: SocketAddr, m: InDialog, tag: Tag, cseq: u32) -> Option<Vec<u8>> {
    let a = Message::parse(answer, Framing::Datagram).ok()?;
    let to = a.header(HeaderName::To)?;
    let to = tagged(to, tag, a.to()?.tag());
    let from = a.header(HeaderName::From)?;
    let gw = super::addr(super::GATEWAY);
    Some(in_dialog(method(m), &format!("sip:tandem@{site}"), gw, from, &to, a.call_id()?, cseq))
}

/// A callee's response to a request a site sent it.
pub(super) fn response(
    request: &[u8],
    to: SocketAddr,
    code: Code,
    tag: Tag,
    sdp: bool,
    contact: &Field,
) -> Option<Vec<u8>> {
    let req = Message::parse(request, Framing::Datagram).ok()?;
    let tag = match tag {
        Tag::Right => Some(CALLEE_TAG),
        Tag::Missing => None,
        Tag::Wrong => Some("nobody"),
    };
    let status = code.number() % 600 + 100;
    let b = MessageBuilder::response_to(&req, status, "Fuzz", tag, &ViaStamp::default());
    let contact = value(contact, &format!("<sip:callee@{to}>"));
    let head = b.finish(None, b"");
    // Splice the Contact (it may be bytes the builder would refuse) and the body in.
    let end = head.len().checked_sub(b"Content-Length: 0\r\n\r\n".len())?;
    let mut out = head[..end].to_vec();
    out.extend_from_slice(b"Contact: ");
    out.extend_from_slice(&contact);
    out.extend_from_slice(b"\r\n");
    let body = if sdp { SDP.as_bytes() } else { b"" };
    if sdp {
        out.extend_from_slice(b"Content-Type: application/sdp\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    Some(out)
}

/// A callee's request inside the dialog of the INVITE a site sent it.
pub(super) fn callee_in_dialog(invite: &[u8], phone: SocketAddr, m: InDialog, tag: Tag, cseq: u32) -> Option<Vec<u8>> {
    let inv = Message::parse(invite, Framing::Datagram).ok()?;
    let from = tagged(inv.header(HeaderName::To)?, tag, Some(CALLEE_TAG));
    let to = inv.header(HeaderName::From)?;
    let via = inv.top_via()?;
    let target = format!("sip:tandem@{}", via.host);
    Some(in_dialog(method(m), &target, phone, &from, to, inv.call_id()?, cseq))
}

/// `Location`s a router may name: both sites, the peer trunk, nothing, nonsense.
const LOCATIONS: [&str; 5] = ["site1", "site2", "TO_PEER", "", "nowhere"];

/// A CTI request as JSON; `dn` picks a DN, `conn` a ConnID seen so far.
pub(super) fn desk_request(op: &DeskOp, dn: impl Fn(u8) -> &'static str, conn: impl Fn(u8) -> String) -> Value {
    match op {
        DeskOp::Register { dn: d } => json!({"message": "RequestRegisterAddress", "ThisDN": dn(*d)}),
        DeskOp::Login { dn: d, agent } => {
            json!({"message": "RequestAgentLogin", "ThisDN": dn(*d), "AgentID": format!("A100{}", agent % 5)})
        }
        DeskOp::Ready { dn: d } => json!({"message": "RequestAgentReady", "ThisDN": dn(*d)}),
        DeskOp::NotReady { dn: d } => json!({"message": "RequestAgentNotReady", "ThisDN": dn(*d)}),
        DeskOp::Logout { dn: d } => json!({"message": "RequestAgentLogout", "ThisDN": dn(*d)}),
        DeskOp::Route { conn: c, rp, target } => json!({
            "message": "RequestRouteCall", "ThisDN": dn(*rp), "ConnID": conn(*c), "OtherDN": dn(*target)
        }),
        DeskOp::MakeCall { dn: d, target, data } => json!({
            "message": "RequestMakeCall", "ThisDN": dn(*d), "OtherDN": dn(*target),
            "UserData": {"Blob": "u".repeat(usize::from(*data))}
        }),
        DeskOp::Answer { conn: c, dn: d } => {
            json!({"message": "RequestAnswerCall", "ThisDN": dn(*d), "ConnID": conn(*c)})
        }
        DeskOp::Release { conn: c, dn: d } => {
            json!({"message": "RequestReleaseCall", "ThisDN": dn(*d), "ConnID": conn(*c)})
        }
        DeskOp::Query { dn: d } => json!({"message": "RequestQueryAddress", "ThisDN": dn(*d)}),
        DeskOp::RouteRemote { conn: c, rp, target, location } => {
            let location = LOCATIONS[usize::from(*location) % LOCATIONS.len()];
            json!({
                "message": "RequestRouteCall", "ThisDN": dn(*rp), "ConnID": conn(*c), "OtherDN": dn(*target),
                "Location": location
            })
        }
        DeskOp::Reserve { dn: d, priority, duration } => json!({
            "message": "RequestReserveAgent", "ThisDN": dn(*d), "Priority": priority, "Duration": duration
        }),
        DeskOp::Treat { conn: c, rp } => {
            json!({"message": "RequestApplyTreatment", "ThisDN": dn(*rp), "ConnID": conn(*c)})
        }
        DeskOp::Record { conn: c, dn: d, service } => json!({
            "message": "RequestPrivateService", "ServiceID": 3013 + u32::from(*service % 5),
            "ThisDN": dn(*d), "ConnID": conn(*c)
        }),
        DeskOp::Monitor { dn: d } => {
            json!({"message": "RequestRegisterAddress", "ThisDN": dn(*d), "RegisterMode": "ModeMonitor"})
        }
    }
}
