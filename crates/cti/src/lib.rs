//! The CTI protocol between a Tandem site and agent desktops (and routers, wallboards).
//!
//! One JSON object per WebSocket text message. Requests and events are named after
//! T-Library (`RequestAgentLogin` -> `EventAgentLogin`) and carry its attribute names
//! (`ThisDN`, `OtherDN`, `ConnID`, `CallType`, `AgentID`, `AgentWorkMode`, `Reasons`,
//! `UserData`, `ReferenceID`). The `message` field names the request or event. Every
//! request may carry a `ReferenceID`, echoed in the event that answers it.
//!
//! ```
//! let req: cti::Request = serde_json::from_str(
//!     r#"{"message":"RequestAgentLogin","ReferenceID":7,"ThisDN":"1001","AgentID":"A1001"}"#,
//! ).unwrap();
//! assert_eq!(req.reference_id(), Some(7));
//! ```
//!
//! This crate is types only: no I/O. `docs/cti.md` documents every message with an
//! example; [`schema`] generates the machine-readable JSON Schema from these types.

#![cfg_attr(not(test), deny(clippy::expect_used))]
#![cfg_attr(not(test), deny(clippy::wildcard_enum_match_arm))]
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod event;
mod request;
mod sorted;

pub use event::Event;
pub use request::Request;
pub use sorted::{CallRequest, DeskRequest, PairOp, ProcessRequest, RecordOp, Sorted, Transfer, UserDataChange};

/// Protocol version, sent in [`Event::EventServerInfo`] when a desktop connects.
pub const PROTOCOL_VERSION: u32 = 1;

/// Free-form key/value data attached to a call or a request (T-Library KVList).
pub type KvList = BTreeMap<String, serde_json::Value>;

/// T-Library `TCallType`, judged per site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CallType {
    /// Unknown.
    Unknown,
    /// Between two DNs of this site.
    Internal,
    /// From outside to this site.
    Inbound,
    /// From this site to outside.
    Outbound,
    /// A consultation call.
    Consult,
}

/// T-Library `TAgentWorkMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum AgentWorkMode {
    /// Unknown (the default).
    #[default]
    Unknown,
    /// Ready: takes calls one at a time, answers manually.
    ManualIn,
    /// Ready: calls are answered automatically.
    AutoIn,
    /// Not ready: wrapping up the last call.
    AfterCallWork,
    /// Not ready: other work.
    AuxWork,
    /// Not ready: released without a disconnect.
    NoCallDisconnect,
    /// Not ready: away.
    WalkAway,
    /// Ready: returned.
    ReturnBack,
}

/// Agent states (spec section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AgentState {
    /// Logged out.
    LoggedOut,
    /// Logged in, not taking calls.
    NotReady,
    /// Logged in, taking calls.
    Ready,
    /// On an ACD call.
    Busy,
    /// Wrapping up after an ACD call.
    AfterCallWork,
}

/// T-Library `TRouteType` (the subset Tandem acts on; others are refused with EventError).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum RouteType {
    /// Same as Default.
    #[default]
    Unknown,
    /// Route to OtherDN.
    Default,
    /// Route to OtherDN (a label).
    Label,
    /// Route to OtherDN, rewriting the DNIS.
    OverwriteDNIS,
    /// Reject the call.
    Reject,
}

/// T-Library `TRegisterMode`: how a client registers a DN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum RegisterMode {
    /// A desktop or a router: it may act on the DN (a router on a Routing Point counts as
    /// "a router is listening", so default routing waits for it).
    #[default]
    ModeShare,
    /// Watch only (a stat service or wallboard): events, no say in routing.
    ModeMonitor,
}

/// Error codes of [`Event::EventError`], sorted by who is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ErrorCode {
    /// The message is not JSON or not a known request.
    InvalidRequest,
    /// The client is not authenticated.
    NotAuthenticated,
    /// ThisDN is not provisioned at this site.
    UnknownDN,
    /// The AgentID is not a configured agent login.
    UnknownAgent,
    /// The password is wrong.
    BadPassword,
    /// Another agent is logged in on this DN.
    DNInUse,
    /// This agent is already logged in elsewhere.
    AgentAlreadyLoggedIn,
    /// No agent is logged in on ThisDN.
    NoAgentLoggedIn,
    /// The client did not register ThisDN.
    NotRegistered,
    /// The ConnID names no call on ThisDN.
    NoSuchCall,
    /// The request is valid but not possible now (e.g. OtherDN unreachable).
    InvalidState,
    /// The request is known but not supported by this site or endpoint.
    NotSupported,
    /// The site is shutting down.
    ShuttingDown,
    /// The agent is reserved by another client, or another request won the collection.
    AgentReserved,
    /// The client's token does not allow this request (its role, or a DN not its own).
    NotPermitted,
}

impl ErrorCode {
    /// The text an EventError with this code carries when the answering part has nothing
    /// more particular to say.
    pub fn text(self) -> &'static str {
        match self {
            Self::InvalidRequest => {
                "OtherDN is required, of at most 128 characters, and UserData at most 4,096 bytes of JSON"
            }
            Self::NotAuthenticated => "the client is not authenticated",
            Self::UnknownDN => "a DN of the request is not reachable from this site",
            Self::UnknownAgent => "the AgentID is not a configured agent login",
            Self::BadPassword => "the password is wrong",
            Self::DNInUse => "another agent is logged in on this DN",
            Self::AgentAlreadyLoggedIn => "this agent is already logged in elsewhere",
            Self::NoAgentLoggedIn => "no agent is logged in on ThisDN",
            Self::NotRegistered => "the client did not register ThisDN",
            Self::NoSuchCall => "no such call on ThisDN",
            Self::InvalidState => "no phone in a state to do this (not registered, or not ringing yet)",
            Self::NotSupported => "not supported by this site yet",
            Self::ShuttingDown => "the site is shutting down",
            Self::AgentReserved => "the agent is reserved by another client",
            Self::NotPermitted => "the client's token does not allow this request",
        }
    }
}

/// The ConnID as desktops see it: 16 hex digits.
pub fn conn_id_text(conn_id: u64) -> String {
    format!("{conn_id:016x}")
}

/// Parses a ConnID from its text form.
pub fn parse_conn_id(text: &str) -> Option<u64> {
    u64::from_str_radix(text, 16).ok()
}

/// The JSON Schema of requests and events, generated from these types.
pub fn schema() -> serde_json::Value {
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Protocol {
        request: Request,
        event: Event,
    }
    serde_json::to_value(schemars::schema_for!(Protocol)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_use_t_library_names() {
        let r = Request::RequestMakeCall {
            reference_id: Some(3),
            this_dn: "1001".into(),
            other_dn: "1002".into(),
            user_data: None,
        };
        let text = serde_json::to_string(&r).expect("serialises");
        assert!(
            text.contains(r#""message":"RequestMakeCall""#)
                && text.contains(r#""ThisDN":"1001""#)
                && text.contains(r#""OtherDN":"1002""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Request>(&text).expect("parses"), r);
    }

    #[test]
    fn events_round_trip_and_omit_absent_attributes() {
        let e = Event::EventRinging {
            this_dn: "1001".into(),
            other_dn: "+12025550147".into(),
            conn_id: conn_id_text(0xabc),
            call_type: CallType::Inbound,
            user_data: None,
            third_party_dn: None,
        };
        let text = serde_json::to_string(&e).expect("serialises");
        assert_eq!(
            text,
            r#"{"message":"EventRinging","ThisDN":"1001","OtherDN":"+12025550147","ConnID":"0000000000000abc","CallType":"Inbound"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&text).expect("parses"), e);
    }

    #[test]
    fn unknown_requests_and_missing_fields_are_errors() {
        assert!(serde_json::from_str::<Request>(r#"{"message":"RequestFly"}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"message":"RequestAgentLogin","ThisDN":"1"}"#).is_err());
    }

    #[test]
    fn schema_names_every_request_and_event() {
        let text = schema().to_string();
        for name in ["RequestAgentLogin", "RequestRouteCall", "EventRinging", "EventRouteUsed", "EventError"] {
            assert!(text.contains(name), "{name} missing from the schema");
        }
    }
}

#[cfg(test)]
mod schema_file {
    /// `docs/cti.schema.json` is generated from these types (`tandem cti --schema`);
    /// this test fails when the types change and the file was not regenerated.
    #[test]
    fn committed_schema_matches_the_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cti.schema.json");
        let committed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("docs/cti.schema.json")).expect("json");
        assert_eq!(committed, super::schema(), "regenerate with: tandem cti --schema > docs/cti.schema.json");
    }
}

/// Parses one request from JSON text (the wire form), with a readable error.
pub fn request_from_json(json: &str) -> Result<Request, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}
