//! `[site.store]`: where a site keeps its call detail records, agent state log and the
//! state it gets back after a restart.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::store::StoreConfig;

/// `[site.store]` as written. Absent: the site keeps nothing on disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoreFile {
    /// The SQLite file; a relative path is relative to the working directory. Required.
    path: Spanned<PathBuf>,
    /// Writes waiting for the writer thread before new ones are dropped (and counted).
    /// Default 65536.
    #[serde(default = "default_queue")]
    queue: u32,
    /// Write call detail records and the agent state log. Default true.
    #[serde(default = "yes")]
    cdr: bool,
    /// Keep registrations and agent logins across restarts. Default true.
    #[serde(default = "yes")]
    state: bool,
    /// Days of records to keep; 0 keeps them all. Default 90.
    #[serde(default = "default_keep_days")]
    keep_days: u32,
}

fn default_queue() -> u32 {
    65_536
}

fn yes() -> bool {
    true
}

fn default_keep_days() -> u32 {
    90
}

impl StoreFile {
    /// Checked: byte offset and message on error.
    pub(super) fn into_config(self) -> Result<StoreConfig, (usize, String)> {
        let at = self.path.span().start;
        let path = self.path.into_inner();
        if path.as_os_str().is_empty() {
            return Err((at, "`store.path`: name the SQLite file".into()));
        }
        if self.queue == 0 {
            return Err((at, "`store.queue` must be at least 1".into()));
        }
        Ok(StoreConfig {
            path,
            queue: self.queue as usize,
            cdr: self.cdr,
            state: self.state,
            keep: (self.keep_days > 0).then(|| Duration::from_secs(u64::from(self.keep_days) * 86_400)),
        })
    }
}
