//! Staying useful under overload: the one place its policy lives. Three parts, one
//! thing:
//!
//! 1. **What the input shows** ([`signal`]): the shell measures each read of its UDP
//!    socket (how many datagrams, how long the oldest waited in the kernel's queue,
//!    whether the kernel dropped some) and how long each wake-up kept the engine busy,
//!    and reports just that ([`crate::Input::Intake`], [`crate::Input::Busy`]). The
//!    signal turns it into a [`Pressure`].
//! 2. **How much new work is admitted** ([`admission`]): under pressure, new INVITEs and
//!    REGISTERs are admitted at a rate cut and grown back by AIMD; caps on calls,
//!    transactions and parked calls; a token bucket per source.
//! 3. **Refusing before parsing** (`node/shed.rs`): while a limit is in force, a raw
//!    INVITE that would be refused gets its stateless 503 from a scan of its first lines,
//!    without a parse or a transaction.
//!
//! The policy is RFC 6357's local overload control, with RFC 7339's ideas: new work
//! (out-of-dialog INVITE and REGISTER) is refused early with a stateless `503` and a
//! jittered `Retry-After` when the input shows a backlog or a capacity cap is reached
//! (calls, transactions, calls parked on Routing Points; registrar bindings in
//! [`crate::RegistrarConfig`]), while what finishes work already accepted (responses,
//! ACK, BYE, CANCEL, in-dialog requests) and everything from the DR peer goes on. A
//! per-source token bucket (like Kamailio's pike) drops a flood from one address
//! before it costs more.
//!
//! Shedding is by rate, not all-or-nothing: while the input shows a backlog, new work
//! is admitted at a rate that starts just under what was admitted before the backlog
//! and shrinks by a factor at once and each window the backlog lasts (15 % a 250 ms
//! window; half every 100 ms while it is [`Pressure::Severe`]); once it clears, the rate
//! grows back each window (8 %, or 25 % while the engine has [`Pressure::Spare`] time)
//! until nothing is refused any more and the limit is lifted (additive increase,
//! multiplicative decrease, as RFC 7339's rate-based control does between servers). So a
//! site offered five times what it can take keeps taking about what it can.

mod admission;
mod signal;

use std::time::Duration;

pub(crate) use admission::Admission;
pub use signal::IntakeBatch;
pub(crate) use signal::LoadSignal;

/// Capacity caps and flood limits of one site. Each field documents its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Calls in progress before new INVITEs get 503. Default 20,000.
    pub max_calls: usize,
    /// Live transactions (including finished ones kept 32 s for retransmissions: about
    /// 100 per call/s, three transactions of a call's four being kept 32 s) before new
    /// INVITEs and REGISTERs get 503. Default 1,000,000 (about 10,000 calls/s sustained,
    /// above what a core carries; 500,000 bound a site at 5,200 calls/s after 26 s of a
    /// 30 s run, below its CPU's knee).
    pub max_transactions: usize,
    /// Calls waiting on one Routing Point before new ones get 503. Default 1,000.
    pub max_parked_per_rp: usize,
    /// Calls waiting on all Routing Points together. Default 10,000.
    pub max_parked: usize,
    /// Requests per second one IP address may send (trunks and the DR peer are exempt);
    /// more are dropped. 0 turns the limit off. Default 0: a gateway or SBC not listed as
    /// a trunk sends thousands a second from one address; set it where sources are phones.
    pub per_source_rate: u32,
    /// Base of the `Retry-After` of an overload 503 (sent jittered by +-50 %). Default 5 s.
    pub retry_after: Duration,
}

impl Default for Capacity {
    fn default() -> Self {
        Self {
            max_calls: 20_000,
            max_transactions: 1_000_000,
            max_parked_per_rp: 1_000,
            max_parked: 10_000,
            per_source_rate: 0,
            retry_after: Duration::from_secs(5),
        }
    }
}

/// How loaded the shell finds the site's input (ordered: each is worse than the last).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pressure {
    /// No backlog, and the engine idles a quarter of the time or more: a limit still in
    /// force grows back by [`FAST_INCREASE`] a window (it was cut far below what the site
    /// takes).
    Spare,
    /// Inputs are taken as fast as they come.
    #[default]
    Normal,
    /// A backlog that drains (its queue shortens): keep shedding at the limit in force,
    /// without cutting it further: the cuts made are working. (After the engine lost the
    /// CPU for 150 ms, a queue near capacity drains for a second; cutting all along sent
    /// the limit to the floor.)
    Draining,
    /// A backlog builds up or stands: shed new work, the limit cut by [`DECREASE`].
    High,
    /// The backlog overflows (the kernel drops datagrams, whichever call they belong to)
    /// or keeps input waiting long: shed harder, the limit halved rather than cut by
    /// [`DECREASE`]. A site offered five times what it takes at once (its DR peer just
    /// failed, say) gets under its capacity in a few windows instead of seconds of drops.
    Severe,
}
