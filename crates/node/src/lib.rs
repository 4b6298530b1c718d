//! The tokio shell around [`engine::Node`]: sockets, timers, configuration, process.
//!
//! One engine task per site owns that site's `Node` by value. It `select!`s over the
//! site's UDP socket, messages framed off TCP connections (each connection task only
//! reads, frames with `sipcore::StreamFramer`, and writes), the node's next deadline,
//! and shutdown. After every input it drains the node's outputs. The clock is read in
//! exactly one place, [`clock::now`].

pub mod cli;
mod clock;
mod config;
mod cti_client;
mod cti_server;
mod metrics;
mod probe;
mod site;
mod tcp;
mod udp_intake;

pub use cli::run;
