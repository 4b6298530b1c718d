//! The node's own answer to a new request, and the status line each answer puts on the
//! wire; `answers.rs` decides which and sends it.

use crate::intake;
use crate::registrar::RegisterReply;
use crate::Status;

/// The node's own answer to a new request; [`Answer::status`] maps it to the wire.
#[derive(Debug)]
pub(super) enum Answer {
    Final(Status),
    /// Refused at intake: a field too long to copy into what we would build.
    Oversized(intake::Oversized),
    Options,
    BadExtension,
    Register(RegisterReply),
    /// 3xx with this Contact.
    Redirect(u16, String),
    /// 401 (REGISTER) or 407 (`proxy`) with these challenges.
    Challenge {
        proxy: bool,
        headers: Vec<String>,
    },
}

impl Answer {
    pub(super) fn status(&self) -> (u16, &'static str) {
        match self {
            Self::Final(status) => status.wire(),
            Self::Oversized(too_big) => too_big.status().wire(),
            Self::Options => Status::Ok.wire(),
            Self::BadExtension => Status::BadExtension.wire(),
            Self::Register(reply) => reply.status().wire(),
            Self::Redirect(code, _) => (*code, "Moved Temporarily"),
            Self::Challenge { proxy: false, .. } => Status::Unauthorized.wire(),
            Self::Challenge { proxy: true, .. } => Status::ProxyAuthenticationRequired.wire(),
        }
    }
}
