//! The phone: registers the DNs with the generator's address as Contact, then answers
//! every INVITE at once with 200 (SDP) and every BYE with 200, statelessly: a
//! retransmitted INVITE gets the same 200 again (the To tag comes from the Call-ID).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sipmsg::{Framing, Message, MessageBuilder, Method, ViaStamp};

pub(crate) struct Phone {
    target: SocketAddr,
    local: SocketAddr,
}

const SDP: &[u8] = b"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

impl Phone {
    pub(crate) fn new(local: SocketAddr, target: SocketAddr) -> Self {
        Self { target, local }
    }

    /// Registers `count` DNs from `first`, 100 at a time (a site may shed a burst from
    /// one source); fails if any is still unanswered after ten rounds.
    pub(crate) fn register(&self, socket: &UdpSocket, first: u32, count: u32) -> anyhow::Result<()> {
        let mut missing: Vec<u32> = (first..first + count).collect();
        let mut buf = vec![0u8; 65_536];
        for round in 0..10 {
            for chunk in missing.clone().chunks(100) {
                for &dn in chunk {
                    socket.send_to(&self.register_request(dn, round), self.target)?;
                }
                let until = Instant::now() + Duration::from_millis(300);
                while Instant::now() < until && chunk.iter().any(|dn| missing.contains(dn)) {
                    take_register_answers(socket, &mut buf, &mut missing)?;
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
        }
        anyhow::bail!("{} DNs not registered (first: {:?})", missing.len(), missing.first())
    }

    fn register_request(&self, dn: u32, round: u32) -> Vec<u8> {
        let target = self.target;
        let mut b = MessageBuilder::request(Method::Register, &format!("sip:{target}"));
        b.header_fmt("Via", format_args!("SIP/2.0/UDP {};branch=z9hG4bK-lgreg-{dn}-{round}", self.local));
        b.header("Max-Forwards", "70");
        b.header_fmt("From", format_args!("<sip:{dn}@{target}>;tag=lgreg{dn}"));
        b.header_fmt("To", format_args!("<sip:{dn}@{target}>"));
        b.header_fmt("Call-ID", format_args!("lgreg-{dn}@loadgen"));
        b.header_fmt("CSeq", format_args!("{} REGISTER", round + 1));
        b.header_fmt("Contact", format_args!("<sip:{dn}@{}>", self.local));
        b.header("Expires", "3600");
        b.finish(None, b"")
    }

    /// The answer to a request (none to an ACK).
    pub(crate) fn answer(&self, msg: &Message<'_>) -> Option<Vec<u8>> {
        let method = msg.method()?;
        let tag = format!("ph{:x}", fnv(msg.call_id().unwrap_or("").as_bytes()));
        let mut b = MessageBuilder::response_to(msg, 200, "OK", Some(&tag), &ViaStamp::default());
        match method {
            Method::Invite => {
                b.header_fmt("Contact", format_args!("<sip:phone@{}>", self.local));
                Some(b.finish(Some("application/sdp"), SDP))
            }
            Method::Ack => None,
            _ => Some(b.finish(None, b"")),
        }
    }
}

/// Reads answers to REGISTER; false when nothing was waiting.
fn take_register_answers(socket: &UdpSocket, buf: &mut [u8], missing: &mut Vec<u32>) -> anyhow::Result<bool> {
    let n = match socket.recv_from(buf) {
        Ok((n, _)) => n,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    let Ok(msg) = Message::parse(&buf[..n], Framing::Datagram) else { return Ok(true) };
    if msg.status() == Some(200) {
        let dn = msg.call_id().and_then(|c| c.strip_prefix("lgreg-")?.strip_suffix("@loadgen")?.parse().ok());
        if let Some(dn) = dn {
            missing.retain(|m| *m != dn);
        }
    }
    Ok(true)
}

/// FNV-1a: a stable tag per Call-ID without keeping state.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
