//! CTI clients that talk to every site of a world: the router and the stat service of the
//! `routing` crate, driven by the world's clock and fed the events of their desks.

use std::any::Any;
use std::time::Instant;

use routing::stats::StatService;
use routing::{Router, SiteId};

/// A CTI client of every site.
pub trait Client {
    /// Its CTI link to `site` is up.
    fn connected(&mut self, now: Instant, site: SiteId);
    /// An event from `site`.
    fn on_event(&mut self, now: Instant, site: SiteId, event: &cti::Event);
    /// The next request and its site.
    fn poll_request(&mut self) -> Option<(SiteId, cti::Request)>;
    /// When it next needs [`Client::on_timeout`].
    fn poll_timeout(&self) -> Option<Instant>;
    /// Time passed.
    fn on_timeout(&mut self, now: Instant);
    /// For tests that look inside.
    fn as_any(&self) -> &dyn Any;
}

impl Client for Router {
    fn connected(&mut self, _now: Instant, site: SiteId) {
        Self::connected(self, site);
    }
    fn on_event(&mut self, now: Instant, site: SiteId, event: &cti::Event) {
        Self::on_event(self, now, site, event);
    }
    fn poll_request(&mut self) -> Option<(SiteId, cti::Request)> {
        Self::poll_request(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Self::poll_timeout(self)
    }
    fn on_timeout(&mut self, now: Instant) {
        Self::on_timeout(self, now);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The stat service as a world client, keeping the names of the statistics each event changed.
pub struct StatClient {
    pub service: StatService,
    /// Every statistic name changed, in order.
    pub changed: Vec<String>,
}

impl Client for StatClient {
    fn connected(&mut self, _now: Instant, site: SiteId) {
        let names = self.service.connected(site);
        self.changed.extend(names);
    }
    fn on_event(&mut self, now: Instant, site: SiteId, event: &cti::Event) {
        let names = self.service.on_event(now, site, event);
        self.changed.extend(names);
    }
    fn poll_request(&mut self) -> Option<(SiteId, cti::Request)> {
        self.service.poll_request()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn on_timeout(&mut self, _now: Instant) {}
    fn as_any(&self) -> &dyn Any {
        self
    }
}
