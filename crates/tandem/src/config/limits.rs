//! `[site.limits]`: capacity caps, flood and connection limits of one site.

use std::time::Duration;

use engine::RegistrarConfig;
use serde::Deserialize;

/// `[site.limits]`: what one site takes on before it sheds load (503) or drops input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct LimitsFile {
    /// Calls in progress before new INVITEs get 503. Default 20000.
    max_calls: u32,
    /// Live SIP transactions before new INVITEs and REGISTERs get 503. Default 1000000.
    max_transactions: u32,
    /// Registrar bindings across all DNs before new ones get 503. Default 100000.
    pub(super) max_bindings: u32,
    /// Calls waiting on one Routing Point before new ones get 503. Default 1000.
    max_parked_per_rp: u32,
    /// Calls waiting on all Routing Points. Default 10000.
    max_parked: u32,
    /// Requests per second one IP address may send (trunk sources exempt); 0 = off.
    /// Default 0 (a gateway not listed as a trunk sends thousands a second).
    per_source_rate: u32,
    /// Seconds; base of Retry-After on overload 503s (jittered +-50 %). Default 5.
    retry_after: u32,
    /// TCP connections one IP address may hold open (phones behind one NAT share it).
    /// Default 1000.
    tcp_per_address: u32,
    /// Seconds a TCP connection may stay silent before it is closed. Default 300.
    tcp_idle_timeout: u32,
    /// CTI connections open at once; more are refused (503). Default 1000.
    pub(super) cti_clients: u32,
    /// Connections the CTI listener (desktops, routers, the agent page) holds at once,
    /// WebSocket or plain HTTP; more are closed at accept. Default 2048.
    http_connections: u32,
    /// Of those, from one IP address (raise it for a large office behind one NAT).
    /// Default 512.
    http_per_address: u32,
    /// Seconds a request head may take to arrive, and an HTTP connection may wait idle
    /// for its next request, on every HTTP listener of the site. Default 10.
    http_header_timeout: u32,
}

impl Default for LimitsFile {
    fn default() -> Self {
        let (c, r) = (engine::Capacity::default(), RegistrarConfig::default());
        Self {
            max_calls: c.max_calls as u32,
            max_transactions: c.max_transactions as u32,
            max_bindings: r.max_bindings as u32,
            max_parked_per_rp: c.max_parked_per_rp as u32,
            max_parked: c.max_parked as u32,
            per_source_rate: c.per_source_rate,
            retry_after: c.retry_after.as_secs() as u32,
            tcp_per_address: 1000,
            tcp_idle_timeout: 300,
            cti_clients: 1000,
            http_connections: 2048,
            http_per_address: 512,
            http_header_timeout: 10,
        }
    }
}

impl LimitsFile {
    pub(super) fn capacity(&self) -> engine::Capacity {
        engine::Capacity {
            max_calls: self.max_calls as usize,
            max_transactions: self.max_transactions as usize,
            max_parked_per_rp: self.max_parked_per_rp as usize,
            max_parked: self.max_parked as usize,
            per_source_rate: self.per_source_rate,
            retry_after: Duration::from_secs(self.retry_after.into()),
        }
    }

    /// What the CTI listener admits.
    pub(super) fn http(&self) -> crate::http_serve::HttpLimits {
        crate::http_serve::HttpLimits {
            connections: self.http_connections.max(1) as usize,
            per_address: self.http_per_address.max(1) as usize,
            header_timeout: Duration::from_secs(self.http_header_timeout.max(1).into()),
        }
    }

    pub(super) fn tcp(&self) -> TcpLimits {
        TcpLimits {
            per_address: self.tcp_per_address.max(1) as usize,
            idle_timeout: Duration::from_secs(self.tcp_idle_timeout.max(1).into()),
        }
    }
}

/// Limits the shell applies to SIP over TCP.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpLimits {
    /// Connections one IP address may hold open.
    pub(crate) per_address: usize,
    /// Silence after which a connection is closed.
    pub(crate) idle_timeout: Duration,
}
