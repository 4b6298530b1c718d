//! Sans-IO SIP machinery: stream framing and the RFC 3261 section 17 transactions.
//!
//! Nothing here touches a socket or reads a clock. Bytes and the current time go in
//! through `handle_*` methods; bytes to send come out of
//! [`TransactionLayer::poll_transmit`], timer expiries are driven by
//! [`TransactionLayer::poll_timeout`] / [`TransactionLayer::handle_timeout`].
//!
//! The run-loop contract is the same as every Tandem core's: after any `handle_*`
//! call, drain `poll_transmit` and `poll_event`, then sleep until `poll_timeout`.

#![cfg_attr(not(test), deny(clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::wildcard_enum_match_arm))]
mod framing;
mod memory;
mod peer;
mod spread_map;
pub mod transaction;

pub use framing::{StreamError, StreamFramer};
pub use memory::shrink_sparse;
pub use peer::{ConnId, Peer, Transport};
pub use spread_map::SpreadMap;
pub use transaction::{
    ClientOutcome, RequestOutcome, TimerName, TransactionConfig, TransactionEvent, TransactionLayer, TransactionStats,
    Transmit, TxKey,
};
