//! What a run measured, printed as one line of `key=value`.

use std::fmt;
use std::time::Duration;

/// Figures of one run.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Calls offered (first INVITEs sent).
    pub(crate) offered: u64,
    /// Calls answered 200 and ended by a BYE that got its 200.
    pub(crate) completed: u64,
    /// Calls answered with a final failure, by code (503 is the overload answer).
    pub(crate) rejected_503: u64,
    pub(crate) rejected_other: u64,
    /// Calls that got no final answer before timer B, or whose BYE got none before timer F.
    pub(crate) timed_out: u64,
    /// Calls still under way when the drain time ran out.
    pub(crate) unfinished: u64,
    /// INVITE retransmissions sent.
    pub(crate) retransmissions: u64,
    /// First INVITE -> 200, microseconds, of the answered calls.
    pub(crate) setup_us: Vec<u64>,
    /// How long calls were offered.
    pub(crate) elapsed: Duration,
    /// CPU the generator used (user + system), seconds.
    pub(crate) cpu_s: f64,
}

impl Report {
    fn percentile(&self, p: f64) -> f64 {
        let mut v = self.setup_us.clone();
        v.sort_unstable();
        let Some(last) = v.len().checked_sub(1) else { return f64::NAN };
        let i = ((p * v.len() as f64).ceil() as usize).saturating_sub(1).min(last);
        v[i] as f64 / 1000.0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "offered={} completed={} goodput={:.0} rejected_503={} rejected_other={} timed_out={} unfinished={} \
             retransmissions={} setup_p50_ms={:.2} setup_p99_ms={:.2} setup_max_ms={:.2} loadgen_cpu_s={:.2}",
            self.offered,
            self.completed,
            self.completed as f64 / secs,
            self.rejected_503,
            self.rejected_other,
            self.timed_out,
            self.unfinished,
            self.retransmissions,
            self.percentile(0.50),
            self.percentile(0.99),
            self.percentile(1.0),
            self.cpu_s,
        )
    }
}

/// CPU this process used so far (user + system), seconds, from /proc/self/stat.
pub(crate) fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
    ticks / 100.0 // USER_HZ is 100 on Linux
}
