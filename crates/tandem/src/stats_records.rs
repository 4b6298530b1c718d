//! The stat service's figures from the sites' call records (`[site.store]` with `cdr`):
//! the current interval's counters rebuilt when the service starts, so a restart does not
//! zero the wallboard, and today's history per Routing Point in intervals of
//! `stats-interval` (`GET /history`). Intervals are cut on the wall clock (00:00, 00:15…
//! UTC for 15 minutes), the same for the live counters once records are read. The records
//! are read on a blocking thread, one read at a time.

use std::sync::Arc;
use std::time::Duration;

use routing::stats::history::{counters, intervals};
use routing::stats::StatService;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::clock;
use crate::config::Deployment;
use crate::store::Target;

const DAY_MS: i64 = 86_400_000;

/// Where the service reads the records of its group's sites, and how it counts them.
pub(crate) struct Records {
    targets: Arc<Vec<Target>>,
    service_level: Duration,
    interval: Duration,
    reads: Semaphore,
    /// The last `/history` answer and when it was made: wallboards asking within
    /// [`HISTORY_FRESH`] get it again, without a read.
    last: std::sync::Mutex<Option<(std::time::Instant, Value)>>,
}

const HISTORY_FRESH: Duration = Duration::from_secs(5);

impl Records {
    /// The records of `deployment`'s sites (a shared database once); None when no site
    /// keeps call records.
    pub(crate) fn of(deployment: &Deployment, config: &routing::RoutingConfig) -> Option<Arc<Self>> {
        let mut targets: Vec<Target> = Vec::new();
        for store in deployment.sites.iter().filter_map(|s| s.store.as_ref()).filter(|s| s.cdr) {
            if !targets.contains(&store.target) {
                targets.push(store.target.clone());
            }
        }
        let interval = config.stats_interval.unwrap_or(Duration::from_secs(900));
        (!targets.is_empty()).then(|| {
            Arc::new(Self {
                targets: Arc::new(targets),
                service_level: config.service_level,
                interval,
                reads: Semaphore::new(1),
                last: std::sync::Mutex::new(None),
            })
        })
    }

    fn interval_ms(&self) -> i64 {
        i64::try_from(self.interval.as_millis()).unwrap_or(DAY_MS).clamp(1, DAY_MS)
    }

    /// The service resumes the current interval (begun on the wall clock's last interval
    /// boundary) with the counters its records give.
    pub(crate) async fn resume(&self, service: &mut StatService) {
        let now_ms = i64::try_from(clock::unix_ms()).unwrap_or(0);
        let start_ms = now_ms - now_ms.rem_euclid(self.interval_ms());
        let calls = self.read(start_ms).await;
        let elapsed = Duration::from_millis(u64::try_from(now_ms - start_ms).unwrap_or(0));
        let started = clock::now().checked_sub(elapsed).unwrap_or_else(clock::now);
        tracing::info!(calls = calls.len(), "stat service resumes its interval from the call records");
        service.resume_interval(started, counters(&calls, self.service_level));
    }

    /// Today's (UTC) intervals per Routing Point: `{"rp/5000": [{start_ms, offered, ...}]}`.
    pub(crate) async fn today(&self) -> Value {
        let fresh = |at: &std::time::Instant| clock::now().saturating_duration_since(*at) < HISTORY_FRESH;
        if let Some((_, value)) = self.last.lock().ok().and_then(|l| l.clone()).filter(|(at, _)| fresh(at)) {
            return value;
        }
        let now_ms = i64::try_from(clock::unix_ms()).unwrap_or(0);
        let midnight = now_ms - now_ms.rem_euclid(DAY_MS);
        let calls = self.read(midnight).await;
        let by_rp = intervals(&calls, self.service_level, midnight, self.interval);
        let by_name: serde_json::Map<String, Value> =
            by_rp.into_iter().map(|(rp, list)| (format!("rp/{rp}"), json!(list))).collect();
        let value = json!({ "interval_s": self.interval.as_secs(), "points": by_name });
        if let Ok(mut last) = self.last.lock() {
            *last = Some((clock::now(), value.clone()));
        }
        value
    }

    async fn read(&self, since_ms: i64) -> Vec<routing::stats::history::RecordedCall> {
        let Ok(_turn) = self.reads.acquire().await else { return Vec::new() };
        let targets = self.targets.clone();
        tokio::task::spawn_blocking(move || crate::store::today::rp_calls(&targets, since_ms)).await.unwrap_or_default()
    }
}
