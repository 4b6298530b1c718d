//! Plain counters; the shell exports them.

use std::collections::BTreeMap;

use sipcore::TransactionStats;

/// Counters of one node since start.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NodeStats {
    /// Digest authentication: challenges, successes, failures, throttled sources.
    pub auth: crate::auth::AuthStats,
    /// Requests from the DR peer's address refused: unsealed (with `peer_secret`), or
    /// presence while the peer trunk is out of service.
    pub peer_refused: u64,
    /// Requests received (including retransmissions).
    pub requests_in: u64,
    /// Responses received.
    pub responses_in: u64,
    /// Responses sent, by status code.
    pub responses_out: BTreeMap<u16, u64>,
    /// Messages refused as malformed, by [`sipmsg::ParseError::kind`].
    pub parse_errors: BTreeMap<&'static str, u64>,
    /// Malformed messages dropped without an answer.
    pub dropped: u64,
    /// New INVITEs and REGISTERs refused with 503 under overload or at a capacity cap.
    pub overload_rejected: u64,
    /// Of those, INVITEs refused from their raw head, before a full parse.
    pub overload_rejected_unparsed: u64,
    /// ACKs of overload 503s dropped unparsed (known by the refusal's To tag).
    pub refusal_acks_absorbed: u64,
    /// Requests dropped because their source sent more than `per-source-rate`.
    pub flood_dropped: u64,
    /// New INVITEs and REGISTERs per second admitted while shedding (0: no limit in force).
    pub new_work_limit: u64,
    /// The input pressure the shell reported last: 0 spare, 1 normal, 2 draining, 3 high,
    /// 4 severe (see [`crate::Pressure`]).
    pub input_pressure: u64,
    /// Current bindings across all DNs.
    pub bindings: u64,
    /// Entries in the registrar's expiry index (one per binding).
    pub binding_expiry_entries: u64,
    /// DNs with at least one binding.
    pub registered_dns: u64,
    /// Transaction layer counters.
    pub transactions: TransactionStats,
    /// Calls offered to a DN (ringing).
    pub calls_offered: u64,
    /// Calls answered.
    pub calls_answered: u64,
    /// Times an answered call was put on hold (by a desktop or a phone).
    pub calls_held: u64,
    /// Answered calls transferred on in one step.
    pub calls_transferred: u64,
    /// Calls the caller gave up on before the answer.
    pub calls_abandoned: u64,
    /// Calls that could not be delivered, by the status the caller got.
    pub calls_failed: BTreeMap<u16, u64>,
    /// Calls redirected to the DR peer with 302.
    pub calls_redirected: u64,
    /// Calls in progress.
    pub active_calls: u64,
    /// Agents logged in.
    pub agents_logged_in: u64,
    /// Agents Ready.
    pub agents_ready: u64,
    /// The media partner: commands, failures, calls left unanchored, the down alarm.
    pub media: crate::media::MediaStats,
    /// At a Network SIP Server: how its calls were sent on.
    pub nss: crate::NssStats,
}
