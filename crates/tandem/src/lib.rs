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
mod cti_access;
mod cti_client;
mod cti_guard;
mod cti_link;
mod cti_server;
mod http_serve;
mod listen;
mod metrics;
mod nss_feed;
mod peer_tls;
mod probe;
mod router_service;
mod site;
mod stats_client;
mod stats_service;
mod store;
mod tcp;
mod tls;
mod udp_intake;

pub use cli::run;

/// A panic anywhere (a site's engine task, a connection task) ends the whole process with
/// a non-zero status, so a supervisor restarts it: a live process with a dead site would
/// look healthy while it loses calls. Tokio would otherwise catch the panic in the task.
pub fn exit_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        tracing::error!("a task panicked ({info}); exiting so that a supervisor restarts the process");
        std::process::exit(70);
    }));
}
