//! What every TCP listener of a site shares (SIP over TCP/TLS, CTI, the stats API,
//! `/metrics`): connection slots, capped in all and per IP address, given back when the
//! connection ends; and a [`Listener`] whose accept backs off when the process is out of
//! file descriptors (`EMFILE`) instead of spinning on the error, and logs refusals at
//! most once a second.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// The first and the longest pause after a failed accept.
const BACKOFF_FIRST: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Connection slots of one listener.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    inner: Arc<SlotsInner>,
}

#[derive(Debug)]
struct SlotsInner {
    total: usize,
    per_address: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why a connection got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoSlot {
    /// The listener holds `total` connections.
    Full,
    /// This address holds `per_address` connections.
    AddressFull,
}

/// One connection's slot: given back when dropped (clones share it).
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    _held: Arc<Held>,
}

#[derive(Debug)]
struct Held {
    slots: Slots,
    ip: IpAddr,
}

impl Drop for Held {
    fn drop(&mut self) {
        let Ok(mut open) = self.slots.inner.open.lock() else { return };
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.ip);
            }
        }
    }
}

impl Slots {
    /// At most `total` connections, `per_address` of them from one IP address.
    pub(crate) fn new(total: usize, per_address: usize) -> Self {
        let inner = SlotsInner { total: total.max(1), per_address: per_address.max(1), open: Mutex::default() };
        Self { inner: Arc::new(inner) }
    }

    /// A slot for a connection from `ip`, if there is room.
    pub(crate) fn take(&self, ip: IpAddr) -> Result<Slot, NoSlot> {
        let Ok(mut open) = self.inner.open.lock() else { return Err(NoSlot::Full) };
        if open.total >= self.inner.total {
            return Err(NoSlot::Full);
        }
        let n = open.by_address.entry(ip).or_default();
        if *n >= self.inner.per_address {
            return Err(NoSlot::AddressFull);
        }
        *n += 1;
        open.total += 1;
        Ok(Slot { _held: Arc::new(Held { slots: self.clone(), ip }) })
    }

    /// Connections held now.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.inner.open.lock().map_or(0, |o| o.total)
    }
}

/// A listening socket with its slots: what every accept loop of the shell runs on.
#[derive(Debug)]
pub(crate) struct Listener {
    listener: TcpListener,
    slots: Slots,
    /// The listener's name in logs.
    what: &'static str,
    /// The pause after a failed accept (10 ms doubling to 1 s; an accept resets it).
    backoff: Duration,
    /// Connections refused for want of a slot since the last log line, and when that was.
    refused: u64,
    logged: Option<std::time::Instant>,
}

impl Listener {
    /// `listener` holding at most `total` connections, `per_address` from one IP address.
    pub(crate) fn new(listener: TcpListener, total: usize, per_address: usize, what: &'static str) -> Self {
        Self {
            listener,
            slots: Slots::new(total, per_address),
            what,
            backoff: Duration::ZERO,
            refused: 0,
            logged: None,
        }
    }

    /// The next connection that gets a slot, or `None` at shutdown. Connections without
    /// one are closed at once and logged at most once a second, with their count (a flood
    /// of them must not flood the log too). A failed accept (out of file descriptors, most
    /// often) pauses instead of spinning.
    pub(crate) async fn next(
        &mut self,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Option<(TcpStream, SocketAddr, Slot)> {
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = shutdown.changed() => return None,
            };
            match accepted {
                Ok((stream, remote)) => {
                    self.backoff = Duration::ZERO;
                    match self.slots.take(remote.ip()) {
                        Ok(slot) => return Some((stream, remote, slot)),
                        Err(why) => self.refuse(remote, why),
                    }
                }
                Err(e) => {
                    self.backoff = (self.backoff * 2).clamp(BACKOFF_FIRST, BACKOFF_MAX);
                    tracing::warn!(what = self.what, error = %e, pause_ms = self.backoff.as_millis() as u64, "accept failed; pausing");
                    tokio::time::sleep(self.backoff).await;
                }
            }
        }
    }

    fn refuse(&mut self, remote: SocketAddr, why: NoSlot) {
        self.refused += 1;
        let now = crate::clock::now();
        if self.logged.is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1)) {
            return;
        }
        let (what, refused) = (self.what, std::mem::take(&mut self.refused));
        let (total, per_address) = (self.slots.inner.total, self.slots.inner.per_address);
        match why {
            NoSlot::Full => tracing::warn!(%remote, what, total, refused, "connections refused: the listener is full"),
            NoSlot::AddressFull => {
                tracing::warn!(%remote, what, per_address, refused, "connections refused: the address holds its share")
            }
        }
        self.logged = Some(now);
    }
}

/// Raises this process's soft limit of open files to its hard limit, so that the caps
/// above, not the 1,024 default, bound what a flood of connections can hold.
pub(crate) fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        tracing::debug!(from = soft, to = hard, "raised the open files limit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_in_all_and_per_address_and_come_back_when_dropped() {
        let slots = Slots::new(3, 2);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().expect("ip"), "192.0.2.2".parse().expect("ip"));
        let a1 = slots.take(a).expect("room");
        let a2 = slots.take(a).expect("room");
        assert_eq!(slots.take(a).err(), Some(NoSlot::AddressFull));
        let b1 = slots.take(b).expect("room");
        assert_eq!(slots.take(b).err(), Some(NoSlot::Full));
        let shared = a1.clone();
        drop(a1);
        assert_eq!(slots.open(), 3, "a clone still holds it");
        drop(shared);
        assert_eq!(slots.open(), 2);
        assert!(slots.take(a).is_ok(), "given back");
        drop((a2, b1));
    }
}
