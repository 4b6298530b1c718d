//! Putting back what a site knew before a restart: its phones' bindings and its agents'
//! logins (issue 12). The shell reads them from its store; what no longer fits the
//! configuration (a DN or agent removed, an expired binding, a TCP binding whose
//! connection died with the process) is skipped and counted.

use std::time::Instant;

use super::Node;
use crate::saved::{Restored, SavedAgent, SavedBinding};

impl Node {
    /// Restores saved bindings and agent logins, as at start-up after a restart; the DR
    /// peer hears the agents with the next presence update.
    pub fn restore(&mut self, now: Instant, bindings: Vec<SavedBinding>, agents: Vec<SavedAgent>) -> Restored {
        let mut done = Restored::default();
        for saved in bindings {
            let fits = !saved.expires_in.is_zero()
                && !saved.source.transport.is_reliable()
                && self.config.dns.contains(&saved.dn)
                && self.registrar.restore(now, &saved);
            if fits {
                self.in_service.insert(saved.dn);
                done.bindings += 1;
            } else {
                done.skipped += 1;
            }
        }
        for saved in agents {
            let fits = self.config.agents.contains_key(&saved.agent_id)
                && self.config.dns.kind(&saved.dn).is_some_and(crate::DnKind::is_agent_line)
                && self.desks.restore_agent(now, &saved);
            if fits {
                done.agents += 1;
            } else {
                done.skipped += 1;
            }
        }
        tracing::info!(
            site = %self.config.site,
            bindings = done.bindings,
            agents = done.agents,
            skipped = done.skipped,
            "state restored"
        );
        self.collect(now);
        done
    }
}
