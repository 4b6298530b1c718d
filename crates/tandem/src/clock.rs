//! The one place the shell reads the clock (tokio's, so tests can pause it).

use std::time::Instant;

/// Now, as the cores expect it.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
