//! Parsing must never panic, and a parsed message must re-parse to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sipmsg::{Framing, HeaderName, Message};

fuzz_target!(|data: &[u8]| {
    for framing in [Framing::Datagram, Framing::Stream] {
        let Ok(m) = Message::parse(data, framing) else { continue };
        let _ = m.validate();
        let _ = (m.top_via(), m.from(), m.to(), m.cseq(), m.expires(), m.max_forwards());
        let _ = m.contacts().count();
        let _ = m.values(HeaderName::Route).count();
        let again = Message::parse(m.as_bytes(), framing).expect("a parsed message re-parses");
        assert_eq!(again.as_bytes(), m.as_bytes());
    }
});
