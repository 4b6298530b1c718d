//! `[site.store]`: where a site keeps its call detail records, agent state log and the
//! state it gets back after a restart.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::store::{StoreConfig, Target};

/// `[site.store]` as written. Absent: the site keeps nothing on disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoreFile {
    /// The SQLite file; a relative path is relative to the working directory. This or
    /// `postgres`.
    path: Option<Spanned<PathBuf>>,
    /// A PostgreSQL database instead (`host=... user=... dbname=...` or a
    /// `postgres://` URL), one that several sites may share.
    postgres: Option<Spanned<String>>,
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
    pub(super) fn into_config(self, site_at: usize) -> Result<StoreConfig, (usize, String)> {
        let (target, at) = match (self.path, self.postgres) {
            (Some(path), None) if !path.get_ref().as_os_str().is_empty() => {
                let at = path.span().start;
                (Target::Sqlite(path.into_inner()), at)
            }
            (None, Some(pg)) if !pg.get_ref().trim().is_empty() => {
                let at = pg.span().start;
                (Target::Postgres(pg.into_inner()), at)
            }
            (Some(_), Some(pg)) => {
                return Err((pg.span().start, "`store`: set `path` (SQLite) or `postgres`, not both".into()))
            }
            _ => return Err((site_at, "`store`: set `path` (a SQLite file) or `postgres` (a database)".into())),
        };
        if self.queue == 0 {
            return Err((at, "`store.queue` must be at least 1".into()));
        }
        Ok(StoreConfig {
            target,
            queue: self.queue as usize,
            cdr: self.cdr,
            state: self.state,
            keep: (self.keep_days > 0).then(|| Duration::from_secs(u64::from(self.keep_days) * 86_400)),
        })
    }
}
