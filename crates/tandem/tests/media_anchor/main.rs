//! Issue 24 against the real binary and a real rtpengine (user space, `--table=-1`) on
//! loopback: a gateway calls a phone through a site with `[site.media]`; each party sees
//! only rtpengine's ports in the other's description, and RTP sent to them arrives at the
//! other party both ways; at the end rtpengine holds no call. An offer rtpengine cannot
//! take gets 488; with rtpengine gone a new call goes on unanchored and the alarm is up.
//!
//! The two parties are small SIP user agents written here (UDP sockets), so that the
//! test sees every byte of the descriptions and counts the RTP at each media port.
//! Runs when TANDEM_REAL_PEERS=1 (and needs `rtpengine`, Debian's rtpengine-daemon).

#![allow(clippy::disallowed_methods)] // Real processes, timed on the real clock.

#[path = "../common/mod.rs"]
mod common;

mod anchoring;
mod conference;
mod music;
mod parties;
mod recording;
