//! The head of an out-of-dialog request of ours over UDP (trunk OPTIONS polls, presence
//! MESSAGEs to the DR peer), built in one place: Via with `rport`, Max-Forwards 70, From
//! with a fresh tag, To, a fresh Call-ID, CSeq 1. The B2BUA's requests belong to dialogs
//! and are built from their legs (`b2bua/build.rs`).

use std::net::SocketAddr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sipmsg::{MessageBuilder, Method};

/// Who sends and who receives an out-of-dialog request.
pub(crate) struct Ends<'a> {
    /// Our address (Via and From host).
    pub(crate) local: SocketAddr,
    /// The user part of our From.
    pub(crate) from_user: &'a str,
    /// The Request-URI, also the To.
    pub(crate) target: &'a str,
}

/// The request's head, to which the caller adds headers and a body. `branch` must be
/// the one the transaction is sent with; the From tag and Call-ID come from `rng`.
pub(crate) fn out_of_dialog(method: Method<'_>, ends: &Ends<'_>, branch: &str, rng: &mut ChaCha8Rng) -> MessageBuilder {
    let call_id = format!("{:016x}@tandem", rng.gen::<u64>());
    with_call_id(method, ends, branch, &call_id, rng)
}

/// As [`out_of_dialog`], with the Call-ID given (a seal covers it).
pub(crate) fn with_call_id(
    method: Method<'_>,
    ends: &Ends<'_>,
    branch: &str,
    call_id: &str,
    rng: &mut ChaCha8Rng,
) -> MessageBuilder {
    let Ends { local, from_user, target } = ends;
    let mut b = MessageBuilder::request(method, target);
    b.header_fmt("Via", format_args!("SIP/2.0/UDP {local};branch={branch};rport"));
    b.header("Max-Forwards", "70");
    b.header_fmt("From", format_args!("<sip:{from_user}@{local}>;tag={:08x}", rng.gen::<u32>()));
    b.header_fmt("To", format_args!("<{target}>"));
    b.header("Call-ID", call_id);
    b.header_fmt("CSeq", format_args!("1 {method}"));
    b
}
