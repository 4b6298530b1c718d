//! The tokio shell around [`engine::Node`]: sockets, timers, configuration, process.
//!
//! One engine task per site owns that site's `Node` by value and runs one loop in two
//! beats (`site/task.rs`): `wait` sleeps until something happens (the site's UDP socket or
//! its DR peer link readable, a message framed off a TCP/TLS connection, a desktop's
//! request, the node's next deadline, a reload, a Network SIP Server's figures, the
//! once-a-second tick, the peer keep-alive) and returns it as a `Wakeup`, with the instant
//! and the thread's CPU time read once; `handle` feeds it to the node; then the node's
//! outputs are flushed and the turn is timed. Connection tasks only read, frame with
//! `sipcore::StreamFramer` and write. The shell measures and reports (`Input::Intake`,
//! `Input::Busy`); the engine decides. The clock is read, and seeds drawn, in exactly one
//! place, `clock.rs`.

mod agent_page;
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
mod media_ng;
mod metrics;
mod mixer;
mod nss_feed;
mod peer_tls;
mod probe;
mod recording;
mod router_service;
mod site;
mod stats_client;
mod stats_records;
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
