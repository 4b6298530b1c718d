//! What every TCP listener of a site shares (SIP over TCP/TLS, CTI, the stats API,
//! `/metrics`): connection slots, capped in all and per IP address, given back when the
//! connection ends; and an accept that backs off when the process is out of file
//! descriptors (`EMFILE`) instead of spinning on the error.

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

/// Accepts the next connection; on an error (out of file descriptors, most often) waits
/// a growing pause (10 ms doubling to 1 s; `backoff` keeps it between calls, an accept
/// resets it) and tries again.
pub(crate) async fn accept(listener: &TcpListener, backoff: &mut Duration) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                *backoff = Duration::ZERO;
                return accepted;
            }
            Err(e) => {
                *backoff = (*backoff * 2).clamp(BACKOFF_FIRST, BACKOFF_MAX);
                tracing::warn!(error = %e, pause_ms = backoff.as_millis() as u64, "accept failed; pausing");
                tokio::time::sleep(*backoff).await;
            }
        }
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
