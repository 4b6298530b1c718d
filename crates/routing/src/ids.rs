//! The router's keys, each its own type: a call's ConnID and an agent's AgentID are both
//! text on the wire, and a map from one to the other must not be read the wrong way round
//! (`held`: agent -> call, `routed`: call -> agent). Both borrow as `str`, so lookups take
//! the text an event carries.

use std::borrow::Borrow;
use std::fmt;

/// A call's ConnID (16 hex digits, as desktops see it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ConnId(pub(crate) String);

/// An agent's AgentID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct AgentId(pub(crate) String);

macro_rules! text_id {
    ($name:ident) => {
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self(text)
            }
        }

        impl $name {
            /// The text.
            pub(crate) fn as_str(&self) -> &str {
                &self.0
            }
        }

        // Read as the text it is (lookups, requests); only keys and values of the router's
        // maps are typed.
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(ConnId);
text_id!(AgentId);
