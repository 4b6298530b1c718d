//! A deterministic world for whole-scenario tests: one Tandem site ([`engine::Node`]),
//! SIP user agents playing gateways and phones ([`Ua`]), and CTI desktops, all on one
//! [`netem::Network`] with seeded loss, duplication and jitter, driven by a virtual clock
//! that jumps to the next deadline. A 30-second call runs in microseconds, and the same
//! seed replays the same run.

mod client;
pub mod fixtures;
pub mod hostile;
mod logs;
mod media;
pub mod media_partner;
pub mod model;
mod ua;
mod ua_event;
mod world;

pub use client::{Client, StatClient};
pub use logs::deny_error_logs;
pub use media_partner::{MediaPartner, PartnerMode};
pub use ua::{Pickup, Ua, UaEvent};
pub use world::World;
