//! `loadgen`: offers full SIP calls (INVITE, 200, ACK, BYE, 200) to a site at a fixed
//! rate and answers them on a phone it registers, in one thread, over one UDP socket or
//! one TLS connection (`--tls-ca`).
//!
//! Why not sipp: at 5x the knee on a 2-core machine, sipp's caller alone takes more than a
//! core, so the generator, not the server, decides what is measured. This one keeps per
//! call only what a UAC needs (RFC 3261 timers A/B for the INVITE, E/F for the BYE), the
//! phone answers statelessly, and nothing is logged per message.
//!
//! Prints one line of figures (`key=value`), see [`report::Report`].

#![allow(clippy::disallowed_methods)] // A load generator paces real traffic on the real clock.

mod caller;
mod link;
mod phone;
mod report;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;

/// A light load generator: full calls from a gateway to DNs answered by one phone.
#[derive(Parser, Debug)]
struct Args {
    /// The site's SIP address (UDP; with `--tls-ca`, its `sip_tls` listener).
    #[arg(long)]
    target: SocketAddr,
    /// Speak TLS to `target` (one connection for the gateway and the phone), trusting
    /// the PEM certificates in this file.
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
    /// Calls per second offered.
    #[arg(long)]
    rate: u32,
    /// How long to offer calls, seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// First DN the phone registers and the calls dial.
    #[arg(long, default_value_t = 1000)]
    first_dn: u32,
    /// How many DNs (calls go round them in turn).
    #[arg(long, default_value_t = 1000)]
    dns: u32,
    /// After the last offer, how long to wait for calls still under way, seconds.
    #[arg(long, default_value_t = 5)]
    drain: u64,
    /// Local address for the gateway and the phone (port 0: any).
    #[arg(long, default_value = "127.0.0.1:0")]
    local: SocketAddr,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut link = match &args.tls_ca {
        Some(ca) => link::Link::tls(args.target, ca)?,
        None => link::Link::udp(args.local, args.target)?,
    };
    let run = run_id();
    let phone = phone::Phone::new(link.local_addr()?, args.target, link.transport(), run);
    phone.register(&mut link, args.first_dn, args.dns)?;
    let mut caller = caller::Caller::new(link, phone, args.target, args.first_dn, args.dns, run);
    let start = Instant::now();
    let offer_until = start + Duration::from_secs(args.seconds);
    let end = offer_until + Duration::from_secs(args.drain);
    let cpu_before = report::cpu_seconds();
    let mut buf = vec![0u8; 65_536];
    let per_call = Duration::from_secs(1).div_f64(f64::from(args.rate.max(1)));
    loop {
        let now = Instant::now();
        if now >= end || (now >= offer_until && caller.idle()) {
            break;
        }
        let mut next = end;
        if now < offer_until {
            let offered = caller.offer_until(now, ((now - start).as_secs_f64() * f64::from(args.rate)) as u64)?;
            next = next.min(start + per_call.mul_f64(offered as f64 + 1.0));
        }
        caller.on_timers(now)?;
        next = caller.next_timer().map_or(next, |t| t.min(next));
        caller.receive(next.saturating_duration_since(now), &mut buf)?;
    }
    let elapsed = start.elapsed().min(Duration::from_secs(args.seconds));
    let report = caller.report(elapsed, report::cpu_seconds() - cpu_before);
    use std::io::Write as _;
    writeln!(std::io::stdout().lock(), "{report}")?;
    Ok(())
}

/// A number for this run (process id and the clock's nanoseconds): Call-IDs, tags and
/// branches carry it, so the site never takes a call for one of an earlier run's, whose
/// transactions it may still hold.
fn run_id() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    std::process::id().rotate_left(16) ^ nanos
}
