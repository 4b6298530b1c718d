//! Domain events: what happened, for statistics, logs and (later) CTI and CDRs.

use std::time::Duration;

/// Something that happened in the node that others may care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    /// A contact was bound (or refreshed) for a DN.
    Registered {
        /// The DN.
        dn: String,
        /// The contact URI.
        contact: String,
        /// Granted lifetime.
        expires: Duration,
    },
    /// A binding was removed by its owner.
    Unregistered {
        /// The DN.
        dn: String,
        /// The contact URI.
        contact: String,
    },
    /// A binding lapsed without refresh.
    BindingExpired {
        /// The DN.
        dn: String,
        /// The contact URI.
        contact: String,
    },
}
