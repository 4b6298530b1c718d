//! A phone on a TLS connection (issue 10, RFC 5630): what Tandem sends it says TLS in the
//! Via and names the TLS listener with a `sips:` Contact, so the phone's in-dialog requests
//! come back over TLS, not over plain TCP or UDP.

mod common;

use std::net::SocketAddr;

use common::{gateway_invite, Site};
use engine::{ConnId, Input, NodeConfig, Transport};
use sipmsg::{Framing, HeaderName, Message};

const PHONE: &str = "127.0.0.1:40001";
const TLS_LISTENER: &str = "127.0.0.1:5061";

fn register_over(site: &mut Site, transport: Transport) -> Vec<Vec<u8>> {
    let contact = format!("<sip:1001@{PHONE};transport={}>", transport.as_str().to_lowercase());
    let bytes = common::register("1001", "reg-tls", 1, &contact, Some(3600));
    let remote: SocketAddr = PHONE.parse().expect("addr");
    let at = site.now;
    site.node.handle_input(Input::Stream { at, transport, conn: ConnId(7), remote, certified: 0, bytes: &bytes });
    site.drain()
}

fn site() -> Site {
    let mut config = NodeConfig::for_tests();
    config.local_tls = Some(TLS_LISTENER.parse().expect("addr"));
    Site::with_config(config)
}

#[test]
fn the_invite_to_a_phone_on_tls_says_tls_and_points_back_at_the_tls_listener() {
    let mut s = site();
    let answer = register_over(&mut s, Transport::Tls);
    assert!(answer[0].starts_with(b"SIP/2.0 200"), "{}", String::from_utf8_lossy(&answer[0]));
    let sent = s.send_from("127.0.0.1:5080", &gateway_invite("1001", "tls-call"));
    let invite = sent.iter().find(|m| m.first_line().starts_with("INVITE")).expect("a B-leg INVITE");
    let msg = Message::parse(&invite.bytes, Framing::Datagram).expect("valid");
    let via = msg.header(HeaderName::Via).expect("via");
    assert!(via.starts_with(&format!("SIP/2.0/TLS {TLS_LISTENER};")), "{via}");
    let contact = msg.header(HeaderName::Contact).expect("contact");
    assert_eq!(contact, format!("<sips:tandem@{TLS_LISTENER}>"));
}

#[test]
fn over_plain_tcp_it_stays_tcp_at_the_main_address() {
    let mut s = site();
    register_over(&mut s, Transport::Tcp);
    let sent = s.send_from("127.0.0.1:5080", &gateway_invite("1001", "tcp-call"));
    let invite = sent.iter().find(|m| m.first_line().starts_with("INVITE")).expect("a B-leg INVITE");
    let msg = Message::parse(&invite.bytes, Framing::Datagram).expect("valid");
    assert!(msg.header(HeaderName::Via).expect("via").starts_with("SIP/2.0/TCP 127.0.0.1:5060;"));
    assert_eq!(msg.header(HeaderName::Contact), Some("<sip:tandem@127.0.0.1:5060;transport=tcp>"));
}
