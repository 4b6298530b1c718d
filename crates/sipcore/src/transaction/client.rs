//! Client transactions: INVITE (RFC 3261 section 17.1.1, RFC 6026) and non-INVITE
//! (section 17.1.2).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sipmsg::{Framing, HeaderName, Message, MessageBuilder, Method};

use super::timer::{TimerName, Timers};
use super::TransactionConfig;

/// States of a client transaction (both kinds; INVITE uses Calling, non-INVITE Trying).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientState {
    /// INVITE sent, nothing heard (timers A and B).
    Calling,
    /// Non-INVITE sent, nothing heard (timers E and F).
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final arrived (non-2xx for INVITE); absorbing retransmissions (D or K).
    Completed,
    /// INVITE got a 2xx (RFC 6026); 2xx retransmissions go to the TU until M.
    Accepted,
    /// Done.
    Terminated,
}

/// What the layer should do with a response that matched this transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseVerdict {
    /// Give it to the TU.
    Deliver,
    /// A retransmission the transaction handled itself.
    Absorb,
}

#[derive(Debug)]
pub(crate) struct ClientTx {
    pub(crate) state: ClientState,
    pub(crate) timers: Timers,
    invite: bool,
    reliable: bool,
    request: Arc<[u8]>,
    ack: Option<Arc<[u8]>>,
}

impl ClientTx {
    /// Starts the transaction: the caller sends `request` once right away.
    pub(crate) fn start(
        now: Instant,
        cfg: &TransactionConfig,
        invite: bool,
        reliable: bool,
        request: Arc<[u8]>,
    ) -> Self {
        let mut timers = Timers::default();
        let (retransmit, expire, state) = if invite {
            (TimerName::A, TimerName::B, ClientState::Calling)
        } else {
            (TimerName::E, TimerName::F, ClientState::Trying)
        };
        if !reliable {
            timers.arm_retransmit(now, retransmit, cfg.t1);
        }
        timers.arm_expire(now, expire, cfg.t1 * 64);
        Self { state, timers, invite, reliable, request, ack: None }
    }

    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        cfg: &TransactionConfig,
        response: &Message<'_>,
    ) -> (ResponseVerdict, Option<Arc<[u8]>>) {
        let code = response.status().unwrap_or(0);
        match (self.state, code) {
            (ClientState::Calling | ClientState::Trying | ClientState::Proceeding, 100..=199) => {
                self.state = ClientState::Proceeding;
                if self.invite {
                    self.timers.retransmit = None;
                }
                (ResponseVerdict::Deliver, None)
            }
            (ClientState::Calling | ClientState::Proceeding, 200..=299) if self.invite => {
                // Nothing is retransmitted after a 2xx: let the INVITE's bytes go.
                self.request = Arc::from(&[][..]);
                self.state = ClientState::Accepted;
                self.timers.clear();
                self.timers.arm_expire(now, TimerName::M, cfg.t1 * 64);
                (ResponseVerdict::Deliver, None)
            }
            (ClientState::Accepted, 200..=299) => (ResponseVerdict::Deliver, None),
            (ClientState::Calling | ClientState::Proceeding, 300..) if self.invite => {
                self.state = ClientState::Completed;
                self.timers.clear();
                let wait = if self.reliable { Duration::ZERO } else { cfg.timer_d };
                self.timers.arm_expire(now, TimerName::D, wait);
                self.ack = build_ack(&self.request, response).map(Arc::from);
                // From here on only the ACK is resent: let the INVITE's bytes go.
                self.request = Arc::from(&[][..]);
                (ResponseVerdict::Deliver, self.ack.clone())
            }
            (ClientState::Completed, 300..) if self.invite => (ResponseVerdict::Absorb, self.ack.clone()),
            (ClientState::Trying | ClientState::Proceeding, 200..) => {
                self.request = Arc::from(&[][..]);
                self.state = ClientState::Completed;
                self.timers.clear();
                let wait = if self.reliable { Duration::ZERO } else { cfg.t4 };
                self.timers.arm_expire(now, TimerName::K, wait);
                (ResponseVerdict::Deliver, None)
            }
            _ => (ResponseVerdict::Absorb, None),
        }
    }

    /// Returns the bytes to retransmit (if any) and whether the transaction timed out.
    pub(crate) fn on_timer(&mut self, now: Instant, cfg: &TransactionConfig) -> (Option<Arc<[u8]>>, bool) {
        let Some(fired) = self.timers.take_due(now) else {
            return (None, false);
        };
        match fired.name {
            TimerName::A => {
                self.timers.arm_retransmit(now, TimerName::A, fired.interval * 2);
                (Some(self.request.clone()), false)
            }
            TimerName::E => {
                let next =
                    if self.state == ClientState::Proceeding { cfg.t2 } else { (fired.interval * 2).min(cfg.t2) };
                self.timers.arm_retransmit(now, TimerName::E, next);
                (Some(self.request.clone()), false)
            }
            TimerName::B | TimerName::F => {
                self.terminate();
                (None, true)
            }
            // D, K and M end the wait for retransmissions; a server's timers are never
            // armed in a client transaction.
            TimerName::D
            | TimerName::K
            | TimerName::M
            | TimerName::G
            | TimerName::H
            | TimerName::I
            | TimerName::J
            | TimerName::L => {
                self.terminate();
                (None, false)
            }
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }

    fn terminate(&mut self) {
        self.state = ClientState::Terminated;
        self.timers.clear();
    }
}

/// The ACK for a non-2xx final response (RFC 3261 section 17.1.1.3): same Request-URI,
/// top Via, From, Call-ID, CSeq number and Route as the INVITE; To from the response.
fn build_ack(invite: &[u8], response: &Message<'_>) -> Option<Vec<u8>> {
    let invite = Message::parse(invite, Framing::Datagram).ok()?;
    let mut b = MessageBuilder::request(Method::Ack, invite.request_uri()?);
    b.header("Via", invite.values(HeaderName::Via).next()?);
    b.header("Max-Forwards", "70");
    b.header("From", invite.header(HeaderName::From)?);
    b.header("To", response.header(HeaderName::To)?);
    b.header("Call-ID", invite.call_id()?);
    b.header_fmt("CSeq", format_args!("{} ACK", invite.cseq()?.seq));
    for route in invite.headers_named(HeaderName::Route) {
        b.header("Route", route.value);
    }
    Some(b.finish(None, b""))
}
