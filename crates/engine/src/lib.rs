//! The sans-IO brain of one Tandem site.
//!
//! [`Node`] takes network input and the current time, and produces bytes to send,
//! domain events and its next deadline: the registrar, the signalling-only B2BUA (a new
//! INVITE is classified once and placed by a pure function, `b2bua/placement.rs`), the
//! CTI sessions and agent model (`desks`), DR peering, trunk monitoring and overload
//! control, all behind one dispatcher ([`node`]). With [`NodeConfig::nss`] set the node is
//! a Network SIP Server instead ([`nss`]): it answers INVITEs with a `302` to a site.
//!
//! # Run-loop contract
//!
//! ```
//! use std::time::Instant;
//! use engine::{Input, Node, NodeConfig};
//!
//! let now = Instant::now();
//! let mut node = Node::new(NodeConfig::for_tests(), 7, now);
//! node.handle_input(Input::Datagram {
//!     at: now,
//!     remote: "127.0.0.1:5070".parse().unwrap(),
//!     bytes: b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
//!              From: <sip:p@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: doc\r\nCSeq: 1 OPTIONS\r\n\
//!              Content-Length: 0\r\n\r\n",
//! });
//! // Drain every output before the next input, then sleep until poll_timeout().
//! let reply = node.poll_transmit().expect("a 200 for the OPTIONS");
//! assert!(reply.bytes.starts_with(b"SIP/2.0 200"));
//! while node.poll_event().is_some() {}
//! let _wake_at = node.poll_timeout();
//! ```
//!
//! Network input never returns an error and never panics: malformed requests are
//! answered with a 4xx naming the fault (or dropped when no answer can be routed) and
//! counted in [`NodeStats`].

#![cfg_attr(not(test), deny(clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::wildcard_enum_match_arm))]
pub mod auth;
mod b2bua;
mod caller;
mod config;
mod desks;
mod dn_plan;
mod event;
mod intake;
pub mod media;
mod node;
pub mod nss;
mod overload;
pub mod peer_seal;
mod peering;
mod records;
mod registrar;
mod reply;
mod request_head;
mod saved;
mod sdp;
mod site_view;
mod stats;
mod status;
mod trunks;

pub use b2bua::NssStats;
pub use config::{CallConfig, NodeConfig, RegistrarConfig};
pub use desks::DeskId;
pub use dn_plan::{
    AgentLogin, Allow, Dn, DnKind, DnOptions, DnPlan, DnRange, DrForward, Options, Trunk, MAX_CERT_NAMES,
};
pub use event::{AgentChange, CallType, DomainEvent, LegKind, ReleasedBy};
pub use node::{Input, Node, Wake};
pub use overload::{Capacity, IntakeBatch, Pressure};
pub use records::{AgentRecord, CallRecord, CallResult, LegRecord, MediaRecord, Record, Recorder};
pub use registrar::{Binding, RegisterReply};
pub use saved::{Restored, SavedAgent, SavedBinding};
pub use sipcore::{ConnId, Peer, Transmit, Transport};
pub use stats::NodeStats;
pub use status::Status;
