//! The one place the shell reads the clock (tokio's, so tests can pause it) and draws a
//! random seed: the root `clippy.toml` bans both everywhere else.

use std::time::Instant;

/// Now, as the cores expect it.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Wall-clock time as Unix milliseconds (timestamps for people and other processes).
#[allow(clippy::disallowed_methods)] // the one place
pub(crate) fn unix_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// How long ago a kernel receive timestamp (`SO_TIMESTAMPNS`: wall-clock time since the
/// Unix epoch) was taken; zero when the wall clock says it is in the future.
#[allow(clippy::disallowed_methods)] // the one place
pub(crate) fn since_unix(at: std::time::Duration) -> std::time::Duration {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.saturating_sub(at)
}

/// A seed for a core's generator (a site's node, a router): random per process.
#[allow(clippy::disallowed_methods)] // the one place
pub(crate) fn seed() -> u64 {
    rand::random()
}
