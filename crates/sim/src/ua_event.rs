//! How a scripted UA answers calls ([`Pickup`]) and what happened to it ([`UaEvent`]),
//! for tests to assert on.

use std::time::Duration;

/// How a UA answers an incoming INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pickup {
    /// 180, then 200 after this long.
    After(Duration),
    /// 486 Busy Here at once.
    Busy,
    /// 180 and nothing more.
    Never,
}

/// What happened at a UA, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UaEvent {
    /// A final response to our REGISTER.
    Registered(u16),
    /// A provisional response to our INVITE `call`.
    Provisional { call: String, code: u16 },
    /// The final response to our INVITE `call` (2xx reported once).
    Final { call: String, code: u16 },
    /// An INVITE arrived.
    Incoming { call: String },
    /// The caller cancelled the INVITE we were ringing with.
    Cancelled { call: String },
    /// The other side hung up.
    ByeReceived { call: String },
    /// The final response to our re-INVITE.
    ReInviteAnswered { call: String, code: u16 },
    /// The final response to our BYE.
    ByeAnswered { call: String, code: u16 },
    /// A client transaction of ours timed out.
    TimedOut,
    /// The server asked us to answer a ringing call (NOTIFY Event: talk).
    TalkRequested { call: String },
    /// Our INVITE `call` was redirected; we called `to` as `new_call`.
    Redirected { call: String, to: String, new_call: String },
    /// The final response to our REFER.
    ReferAnswered { call: String, code: u16 },
    /// A NOTIFY arrived in dialog `call` (other than a remote-answer `talk`), with its body.
    Notified { call: String, body: String },
    /// A re-INVITE arrived in dialog `call`, offering media in `direction` (`sendrecv`,
    /// `sendonly`, `recvonly`, `inactive`; none when it had no SDP).
    ReInvited { call: String, direction: Option<&'static str> },
}
