//! Server transactions: INVITE (RFC 3261 section 17.2.1, RFC 6026) and non-INVITE
//! (section 17.2.2).

use std::sync::Arc;
use std::time::Instant;

use super::timer::{TimerName, Timers};
use super::TransactionConfig;

/// States of an INVITE server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InviteServerState {
    /// Waiting for the TU's final response; INVITE retransmissions resend the last provisional.
    Proceeding,
    /// A non-2xx final was sent; retransmitted on G until the ACK or H.
    Completed,
    /// The ACK arrived; absorbing ACK retransmissions until I.
    Confirmed,
    /// A 2xx was sent (RFC 6026); INVITE retransmissions are absorbed until L.
    Accepted,
    /// Done; the layer removes the transaction.
    Terminated,
}

/// States of a non-INVITE server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonInviteServerState {
    /// No response yet; retransmissions are absorbed silently.
    Trying,
    /// A provisional was sent; retransmissions resend it.
    Proceeding,
    /// A final was sent; retransmissions resend it until J.
    Completed,
    /// Done.
    Terminated,
}

/// What a server transaction asks the layer to do after an input.
#[derive(Debug, Default)]
pub(crate) struct ServerStep {
    pub(crate) send: Option<Arc<[u8]>>,
    pub(crate) timed_out: bool,
}

#[derive(Debug)]
pub(crate) struct InviteServer {
    pub(crate) state: InviteServerState,
    pub(crate) timers: Timers,
    last_response: Option<Arc<[u8]>>,
    reliable: bool,
}

impl InviteServer {
    pub(crate) fn new(reliable: bool) -> Self {
        Self { state: InviteServerState::Proceeding, timers: Timers::default(), last_response: None, reliable }
    }

    /// The TU sends a response with this status code; a non-2xx final is retransmitted
    /// on timer G only when `retransmit` (otherwise only when the INVITE comes again).
    pub(crate) fn respond(
        &mut self,
        now: Instant,
        cfg: &TransactionConfig,
        code: u16,
        bytes: Arc<[u8]>,
        retransmit: bool,
    ) -> ServerStep {
        if self.state != InviteServerState::Proceeding
            && !(self.state == InviteServerState::Accepted && (200..300).contains(&code))
        {
            return ServerStep::default();
        }
        if !(200..300).contains(&code) {
            self.last_response = Some(bytes.clone());
        }
        match code {
            100..=199 => {}
            200..=299 => {
                // The TU retransmits its own 2xx (RFC 6026); keep nothing but the state
                // that absorbs INVITE retransmissions until L.
                self.state = InviteServerState::Accepted;
                self.last_response = None;
                self.timers.clear();
                self.timers.arm_expire(now, TimerName::L, cfg.t1 * 64);
            }
            _ => {
                self.state = InviteServerState::Completed;
                if !self.reliable && retransmit {
                    self.timers.arm_retransmit(now, TimerName::G, cfg.t1);
                }
                self.timers.arm_expire(now, TimerName::H, cfg.t1 * 64);
            }
        }
        ServerStep { send: Some(bytes), timed_out: false }
    }

    /// The INVITE arrived again.
    pub(crate) fn on_retransmission(&mut self) -> ServerStep {
        match self.state {
            InviteServerState::Proceeding | InviteServerState::Completed => {
                ServerStep { send: self.last_response.clone(), timed_out: false }
            }
            InviteServerState::Confirmed | InviteServerState::Accepted | InviteServerState::Terminated => {
                ServerStep::default()
            }
        }
    }

    /// An ACK matched this transaction (a non-2xx ACK; 2xx ACKs are the TU's).
    pub(crate) fn on_ack(&mut self, now: Instant, cfg: &TransactionConfig) {
        if self.state == InviteServerState::Completed {
            self.state = InviteServerState::Confirmed;
            self.timers.clear();
            let wait = if self.reliable { std::time::Duration::ZERO } else { cfg.t4 };
            self.timers.arm_expire(now, TimerName::I, wait);
        }
    }

    pub(crate) fn on_timer(&mut self, now: Instant, cfg: &TransactionConfig) -> ServerStep {
        let Some(fired) = self.timers.take_due(now) else {
            return ServerStep::default();
        };
        match fired.name {
            TimerName::G => {
                self.timers.arm_retransmit(now, TimerName::G, (fired.interval * 2).min(cfg.t2));
                ServerStep { send: self.last_response.clone(), timed_out: false }
            }
            TimerName::H => {
                self.state = InviteServerState::Terminated;
                self.timers.clear();
                ServerStep { send: None, timed_out: true }
            }
            // I and L end the wait for ACKs; the other timers are never armed in an
            // INVITE server transaction.
            TimerName::I
            | TimerName::L
            | TimerName::A
            | TimerName::B
            | TimerName::D
            | TimerName::E
            | TimerName::F
            | TimerName::J
            | TimerName::K
            | TimerName::M => {
                self.state = InviteServerState::Terminated;
                self.timers.clear();
                ServerStep::default()
            }
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state == InviteServerState::Terminated
    }
}

#[derive(Debug)]
pub(crate) struct NonInviteServer {
    pub(crate) state: NonInviteServerState,
    pub(crate) timers: Timers,
    last_response: Option<Arc<[u8]>>,
    reliable: bool,
}

impl NonInviteServer {
    pub(crate) fn new(reliable: bool) -> Self {
        Self { state: NonInviteServerState::Trying, timers: Timers::default(), last_response: None, reliable }
    }

    pub(crate) fn respond(&mut self, now: Instant, cfg: &TransactionConfig, code: u16, bytes: Arc<[u8]>) -> ServerStep {
        if matches!(self.state, NonInviteServerState::Completed | NonInviteServerState::Terminated) {
            return ServerStep::default();
        }
        self.last_response = Some(bytes.clone());
        if code >= 200 {
            self.state = NonInviteServerState::Completed;
            let wait = if self.reliable { std::time::Duration::ZERO } else { cfg.t1 * 64 };
            self.timers.arm_expire(now, TimerName::J, wait);
        } else {
            self.state = NonInviteServerState::Proceeding;
        }
        ServerStep { send: Some(bytes), timed_out: false }
    }

    pub(crate) fn on_retransmission(&mut self) -> ServerStep {
        match self.state {
            NonInviteServerState::Proceeding | NonInviteServerState::Completed => {
                ServerStep { send: self.last_response.clone(), timed_out: false }
            }
            NonInviteServerState::Trying | NonInviteServerState::Terminated => ServerStep::default(),
        }
    }

    pub(crate) fn on_timer(&mut self, now: Instant) -> ServerStep {
        if self.timers.take_due(now).is_some() {
            self.state = NonInviteServerState::Terminated;
            self.timers.clear();
        }
        ServerStep::default()
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state == NonInviteServerState::Terminated
    }
}
