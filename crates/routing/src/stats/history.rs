//! A Routing Point's figures from call records (the CDR store) rather than from CTI
//! events: what the stat service starts from after a restart (the current interval's
//! counters, so a wallboard does not drop to zero), and today's history in intervals
//! (offered, answered, abandoned, service level, average handle time per interval).
//!
//! The shell reads the records; this file only counts them, as the live counters count
//! the events: a call counts in the interval it was offered in; it is answered within
//! the service level when it waited `service-level` or less; its handle time is its
//! talk time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{PointCounters, StatService};

/// One call that waited on a Routing Point, as its record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    pub rp: String,
    /// Unix milliseconds.
    pub offered_ms: i64,
    pub answered: bool,
    pub abandoned: bool,
    pub default_routed: bool,
    pub transferred: bool,
    /// Until the answer (or the end, when never answered).
    pub wait: Duration,
    pub talk: Duration,
}

/// One interval of one Routing Point's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalFigures {
    /// Unix milliseconds.
    pub start_ms: i64,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    /// Answered within `service-level`, per cent of the answered (None: none answered).
    pub service_level_pct: Option<f64>,
    /// Average talk time of the answered, seconds.
    pub average_handle_time_s: Option<f64>,
}

/// Counters per Routing Point over `calls`, as the live service would have counted them.
pub fn counters(calls: &[RecordedCall], service_level: Duration) -> BTreeMap<String, PointCounters> {
    let mut out: BTreeMap<String, PointCounters> = BTreeMap::new();
    for call in calls {
        let c = out.entry(call.rp.clone()).or_default();
        c.offered += 1;
        c.abandoned += u64::from(call.abandoned);
        c.default_routed += u64::from(call.default_routed);
        c.transferred += u64::from(call.transferred);
        if call.answered {
            c.answered += 1;
            c.answered_in_service_level += u64::from(call.wait <= service_level);
            c.total_answer_wait += call.wait;
            c.handled += 1;
            c.total_handle_time += call.talk;
        }
    }
    out
}

/// Each Routing Point's intervals of `width` from `from_ms` (the first that holds a call
/// to the last), oldest first; intervals without calls are listed with zeros.
pub fn intervals(
    calls: &[RecordedCall],
    service_level: Duration,
    from_ms: i64,
    width: Duration,
) -> BTreeMap<String, Vec<IntervalFigures>> {
    let width_ms = i64::try_from(width.as_millis()).unwrap_or(i64::MAX).max(1);
    let mut buckets: BTreeMap<String, BTreeMap<i64, Vec<RecordedCall>>> = BTreeMap::new();
    for call in calls.iter().filter(|c| c.offered_ms >= from_ms) {
        let start = from_ms + (call.offered_ms - from_ms) / width_ms * width_ms;
        buckets.entry(call.rp.clone()).or_default().entry(start).or_default().push(call.clone());
    }
    let mut out = BTreeMap::new();
    for (rp, by_start) in buckets {
        let (Some(first), Some(last)) = (by_start.keys().next().copied(), by_start.keys().last().copied()) else {
            continue;
        };
        let figures = (0..=(last - first) / width_ms)
            .map(|i| {
                let start_ms = first + i * width_ms;
                let calls = by_start.get(&start_ms).map_or(&[][..], Vec::as_slice);
                let c = counters(calls, service_level).remove(&rp).unwrap_or_default();
                figures_of(start_ms, &c)
            })
            .collect();
        out.insert(rp, figures);
    }
    out
}

fn figures_of(start_ms: i64, c: &PointCounters) -> IntervalFigures {
    let per_answered = |n: f64| (c.answered > 0).then(|| (n / c.answered as f64 * 10.0).round() / 10.0);
    IntervalFigures {
        start_ms,
        offered: c.offered,
        answered: c.answered,
        abandoned: c.abandoned,
        service_level_pct: per_answered(c.answered_in_service_level as f64 * 100.0),
        average_handle_time_s: per_answered(c.total_handle_time.as_secs_f64()),
    }
}

impl StatService {
    /// After a restart: the current interval began at `started` (its wall-clock start,
    /// as an instant of this process) and its counters so far are `counters`, from the
    /// records (Routing Points the configuration does not name are left out).
    pub fn resume_interval(&mut self, started: Instant, counters: BTreeMap<String, PointCounters>) {
        self.interval_start = started;
        for (rp, c) in counters {
            if let Some(point) = self.points.get_mut(&rp) {
                *point = c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(rp: &str, offered_ms: i64, answered: bool, wait_s: u64, talk_s: u64) -> RecordedCall {
        RecordedCall {
            rp: rp.into(),
            offered_ms,
            answered,
            abandoned: !answered,
            default_routed: false,
            transferred: false,
            wait: Duration::from_secs(wait_s),
            talk: Duration::from_secs(talk_s),
        }
    }

    #[test]
    fn records_count_as_the_live_service_counts_events() {
        let calls = [call("5000", 0, true, 10, 60), call("5000", 1, true, 30, 120), call("5000", 2, false, 40, 0)];
        let c = counters(&calls, Duration::from_secs(20)).remove("5000").expect("5000");
        assert_eq!((c.offered, c.answered, c.abandoned, c.answered_in_service_level), (3, 2, 1, 1));
        assert_eq!(
            (c.handled, c.total_handle_time, c.total_answer_wait),
            (2, Duration::from_secs(180), Duration::from_secs(40))
        );
    }

    #[test]
    fn a_day_is_cut_in_intervals_from_its_first_call_to_its_last_with_empty_ones_between() {
        let quarter = 900_000;
        let calls = [
            call("5000", quarter + 5, true, 10, 60),
            call("5000", quarter + 9, true, 30, 100),
            call("5000", 3 * quarter + 1, false, 50, 0),
            call("5001", 10, true, 1, 10),
            call("5000", -1, true, 1, 1), // yesterday: left out
        ];
        let days = intervals(&calls, Duration::from_secs(20), 0, Duration::from_secs(900));
        let rp = &days["5000"];
        assert_eq!(rp.iter().map(|i| i.start_ms).collect::<Vec<_>>(), [quarter, 2 * quarter, 3 * quarter]);
        assert_eq!(
            (rp[0].offered, rp[0].answered, rp[0].service_level_pct, rp[0].average_handle_time_s),
            (2, 2, Some(50.0), Some(80.0))
        );
        assert_eq!((rp[1].offered, rp[1].service_level_pct), (0, None), "an empty interval between");
        assert_eq!((rp[2].abandoned, rp[2].answered), (1, 0));
        assert_eq!(days["5001"].len(), 1);
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn a_resumed_interval_starts_from_the_records_counters() {
        let file: crate::RoutingFile =
            serde_json::from_value(serde_json::json!({"point": [{"dn": "5000"}]})).expect("config");
        let now = Instant::now();
        let mut service = StatService::new(now, file.compile().expect("valid"), vec!["s1".into()], vec![]);
        let calls = [call("5000", 0, true, 10, 60), call("9999", 0, true, 1, 1)];
        service.resume_interval(now - Duration::from_secs(300), counters(&calls, Duration::from_secs(20)));
        let v = service.value(now, "rp/5000").expect("rp/5000");
        assert_eq!(
            (v["offered"].as_u64(), v["answered"].as_u64(), v["interval_s"].as_f64()),
            (Some(1), Some(1), Some(300.0))
        );
        assert!(service.point("9999").is_none(), "a Routing Point not configured stays out");
    }
}
