//! Routing and statistics across both sites of a Business Continuity pair (spec sections
//! 3.6-3.8, BC-36..49): the live model of agents and waiting calls built from both sites'
//! CTI events ([`model`]), the router that picks agents and reserves them before routing
//! ([`Router`]), and the stat service's figures ([`stats`]).
//!
//! Sans-IO like the engine: events go in with the time, CTI requests come out per site,
//! deadlines are polled. The `tandem` binary connects them to the sites' CTI WebSockets;
//! the `sim` crate runs them against simulated sites.

#![cfg_attr(not(test), deny(clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::wildcard_enum_match_arm))]

pub mod config;
mod ids;
pub mod model;
mod pools;
mod router;
pub mod site_counts;
pub mod stats;
mod strategy;
pub mod target;

pub use config::{RoutingConfig, RoutingFile, Strategy};
pub use model::{Model, SiteId};
pub use router::{Router, RouterStats};
