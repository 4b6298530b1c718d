//! The one place the shell reads the clock (tokio's, so tests can pause it).

use std::time::Instant;

/// Now, as the cores expect it.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Wall-clock time as Unix milliseconds (timestamps for people and other processes).
pub(crate) fn unix_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// How long ago a kernel receive timestamp (`SO_TIMESTAMPNS`: wall-clock time since the
/// Unix epoch) was taken; zero when the wall clock says it is in the future.
pub(crate) fn since_unix(at: std::time::Duration) -> std::time::Duration {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.saturating_sub(at)
}
