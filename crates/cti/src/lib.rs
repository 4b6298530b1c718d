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
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

/// What a desktop (or router) asks of the site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "message")]
#[allow(clippy::enum_variant_names)]
pub enum Request {
    /// Receive the events of a DN (`TRegisterAddress`).
    RequestRegisterAddress {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "RegisterMode", default)]
        register_mode: RegisterMode,
    },
    /// Stop receiving a DN's events (`TUnregisterAddress`).
    RequestUnregisterAddress {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
    },
    /// Log an agent in on a DN (`TAgentLogin`).
    RequestAgentLogin {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "AgentID")]
        agent_id: String,
        #[serde(rename = "Password", default)]
        password: Option<String>,
        #[serde(rename = "AgentWorkMode", default)]
        work_mode: AgentWorkMode,
    },
    /// Log the agent on a DN out (`TAgentLogout`).
    RequestAgentLogout {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "Reasons", default)]
        reasons: Option<KvList>,
    },
    /// Make the agent Ready (`TAgentSetReady`).
    RequestAgentReady {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "AgentWorkMode", default)]
        work_mode: AgentWorkMode,
    },
    /// Make the agent NotReady (`TAgentSetNotReady`).
    RequestAgentNotReady {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "AgentWorkMode", default)]
        work_mode: AgentWorkMode,
        #[serde(rename = "Reasons", default)]
        reasons: Option<KvList>,
    },
    /// Call OtherDN from ThisDN (`TMakeCall`).
    RequestMakeCall {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "UserData", default)]
        user_data: Option<KvList>,
    },
    /// Answer the ringing call on ThisDN (`TAnswerCall`).
    RequestAnswerCall {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
    },
    /// Release the call on ThisDN (`TReleaseCall`).
    RequestReleaseCall {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
    },
    /// Route the call waiting on Routing Point ThisDN to OtherDN (`TRouteCall`).
    RequestRouteCall {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "OtherDN", default)]
        other_dn: Option<String>,
        #[serde(rename = "RouteType", default)]
        route_type: RouteType,
        #[serde(rename = "Location", default)]
        location: Option<String>,
    },
    /// The router has the call on Routing Point ThisDN in hand and will route it
    /// (`TApplyTreatment`): `router-timeout` stops; the call waits for a RequestRouteCall
    /// up to `queue-max-wait`. Tandem is signalling-only: the treatment itself (music,
    /// ringback) is the gateway's.
    RequestApplyTreatment {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "TreatmentType", default)]
        treatment_type: Option<String>,
    },
    /// Reserve the agent on ThisDN for this client (`TReserveAgent`, BC-43..46): asked of
    /// the site holding the agent's login; requests are collected for
    /// `request-collection-time`, the highest Priority wins. Duration in seconds: -1 =
    /// `reservation-time`, 0 cancels this client's reservation.
    RequestReserveAgent {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "AgentID", default)]
        agent_id: Option<String>,
        #[serde(rename = "Priority", default)]
        priority: i32,
        #[serde(rename = "Duration", default = "default_duration")]
        duration: i64,
    },
    /// Ask for the state of a DN (`TQueryAddress`).
    RequestQueryAddress {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
    },
    /// Re-read the site configuration (admin).
    RequestReloadConfig {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
    },
    /// A private service; `ServiceID` 3019 starts the graceful shutdown of the site (BC-54).
    RequestPrivateService {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ServiceID")]
        service_id: u32,
    },
}

impl Request {
    /// The request's ReferenceID, echoed in its answer.
    pub fn reference_id(&self) -> Option<u64> {
        match self {
            Self::RequestRegisterAddress { reference_id, .. }
            | Self::RequestUnregisterAddress { reference_id, .. }
            | Self::RequestAgentLogin { reference_id, .. }
            | Self::RequestAgentLogout { reference_id, .. }
            | Self::RequestAgentReady { reference_id, .. }
            | Self::RequestAgentNotReady { reference_id, .. }
            | Self::RequestMakeCall { reference_id, .. }
            | Self::RequestAnswerCall { reference_id, .. }
            | Self::RequestReleaseCall { reference_id, .. }
            | Self::RequestRouteCall { reference_id, .. }
            | Self::RequestReserveAgent { reference_id, .. }
            | Self::RequestApplyTreatment { reference_id, .. }
            | Self::RequestQueryAddress { reference_id, .. }
            | Self::RequestReloadConfig { reference_id }
            | Self::RequestPrivateService { reference_id, .. } => *reference_id,
        }
    }

    /// The request's name (its `message` field).
    pub fn name(&self) -> &'static str {
        match self {
            Self::RequestRegisterAddress { .. } => "RequestRegisterAddress",
            Self::RequestUnregisterAddress { .. } => "RequestUnregisterAddress",
            Self::RequestAgentLogin { .. } => "RequestAgentLogin",
            Self::RequestAgentLogout { .. } => "RequestAgentLogout",
            Self::RequestAgentReady { .. } => "RequestAgentReady",
            Self::RequestAgentNotReady { .. } => "RequestAgentNotReady",
            Self::RequestMakeCall { .. } => "RequestMakeCall",
            Self::RequestAnswerCall { .. } => "RequestAnswerCall",
            Self::RequestReleaseCall { .. } => "RequestReleaseCall",
            Self::RequestRouteCall { .. } => "RequestRouteCall",
            Self::RequestReserveAgent { .. } => "RequestReserveAgent",
            Self::RequestApplyTreatment { .. } => "RequestApplyTreatment",
            Self::RequestQueryAddress { .. } => "RequestQueryAddress",
            Self::RequestReloadConfig { .. } => "RequestReloadConfig",
            Self::RequestPrivateService { .. } => "RequestPrivateService",
        }
    }
}

fn default_duration() -> i64 {
    -1
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
}

/// What the site tells desktops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "message")]
#[allow(clippy::enum_variant_names)]
pub enum Event {
    /// Sent once when a client connects.
    EventServerInfo {
        #[serde(rename = "Server")]
        server: String,
        #[serde(rename = "ProtocolVersion")]
        protocol_version: u32,
    },
    /// A request failed.
    EventError {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN", skip_serializing_if = "Option::is_none", default)]
        this_dn: Option<String>,
        #[serde(rename = "ErrorCode")]
        error_code: ErrorCode,
        #[serde(rename = "ErrorMessage")]
        error_message: String,
    },
    /// ThisDN is registered; its current state.
    EventRegistered {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "DNInService")]
        in_service: bool,
        #[serde(rename = "AgentID", skip_serializing_if = "Option::is_none", default)]
        agent_id: Option<String>,
        #[serde(rename = "AgentState")]
        agent_state: AgentState,
        /// Milliseconds the agent has been in AgentState (a router's "longest idle").
        #[serde(rename = "TimeInStateMs", skip_serializing_if = "Option::is_none", default)]
        time_in_state_ms: Option<u64>,
    },
    /// ThisDN is no longer registered.
    EventUnregistered {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
    },
    /// Answer to RequestQueryAddress.
    EventAddressInfo {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "DNInService")]
        in_service: bool,
        #[serde(rename = "AgentID", skip_serializing_if = "Option::is_none", default)]
        agent_id: Option<String>,
        #[serde(rename = "AgentState")]
        agent_state: AgentState,
        /// Milliseconds the agent has been in AgentState (a router's "longest idle").
        #[serde(rename = "TimeInStateMs", skip_serializing_if = "Option::is_none", default)]
        time_in_state_ms: Option<u64>,
        #[serde(rename = "AgentWorkMode")]
        work_mode: AgentWorkMode,
    },
    /// An agent logged in.
    EventAgentLogin {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "AgentID")]
        agent_id: String,
    },
    /// An agent logged out.
    EventAgentLogout {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "AgentID")]
        agent_id: String,
        #[serde(rename = "Reasons", skip_serializing_if = "Option::is_none", default)]
        reasons: Option<KvList>,
    },
    /// The agent is Ready.
    EventAgentReady {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "AgentID")]
        agent_id: String,
        #[serde(rename = "AgentWorkMode")]
        work_mode: AgentWorkMode,
    },
    /// The agent is NotReady (AfterCallWork is a NotReady work mode).
    EventAgentNotReady {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "AgentID")]
        agent_id: String,
        #[serde(rename = "AgentWorkMode")]
        work_mode: AgentWorkMode,
        #[serde(rename = "Reasons", skip_serializing_if = "Option::is_none", default)]
        reasons: Option<KvList>,
    },
    /// A call is ringing on ThisDN.
    EventRinging {
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "CallType")]
        call_type: CallType,
        #[serde(rename = "UserData", skip_serializing_if = "Option::is_none", default)]
        user_data: Option<KvList>,
    },
    /// ThisDN is dialling OtherDN.
    EventDialing {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "CallType")]
        call_type: CallType,
    },
    /// The call on ThisDN is connected.
    EventEstablished {
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
    },
    /// ThisDN left the call.
    EventReleased {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
    },
    /// The caller gave up before ThisDN answered.
    EventAbandoned {
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
    },
    /// A call waits on Routing Point ThisDN for a RequestRouteCall.
    EventRouteRequest {
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ThisQueue")]
        this_queue: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "CallType")]
        call_type: CallType,
        #[serde(rename = "Server")]
        server: String,
    },
    /// The call left Routing Point ThisDN (routed, or default-routed after the timeout).
    EventRouteUsed {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ThisQueue")]
        this_queue: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "CallType")]
        call_type: CallType,
        /// Set when the call left by default routing (router-timeout, no router,
        /// queue-max-wait), not by a RequestRouteCall.
        #[serde(rename = "DefaultRouted", skip_serializing_if = "std::ops::Not::not", default)]
        default_routed: bool,
    },
    /// Answer to RequestApplyTreatment: the call waits for its router.
    EventTreatmentApplied {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
    },
    /// The agent on ThisDN is reserved for the client that asked (`RequestReserveAgent`).
    EventAgentReserved {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "AgentID")]
        agent_id: String,
        /// Seconds the reservation holds.
        #[serde(rename = "Duration")]
        duration: u64,
    },
    /// A call routed from Routing Point ThisDN to the other site (ISCC) was answered there.
    EventRemoteConnectionSuccess {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "Location")]
        location: String,
    },
    /// A call routed from Routing Point ThisDN to the other site (ISCC) failed there; the
    /// call is back on the Routing Point (a new EventRouteRequest follows).
    EventRemoteConnectionFailure {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "Location")]
        location: String,
        /// The SIP status the other site answered (408 when it did not answer).
        #[serde(rename = "Cause")]
        cause: u16,
    },
    /// ThisDN lost its last registration or stopped answering.
    EventDNOutOfService {
        #[serde(rename = "ThisDN")]
        this_dn: String,
    },
    /// ThisDN is reachable again.
    EventDNBackInService {
        #[serde(rename = "ThisDN")]
        this_dn: String,
    },
    /// Answer to RequestReloadConfig.
    EventConfigReloaded {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
    },
    /// Answer to RequestPrivateService.
    EventPrivateInfo {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ServiceID")]
        service_id: u32,
        /// Set when the notice concerns one DN (it then goes to that DN's desktops).
        #[serde(rename = "ThisDN", skip_serializing_if = "Option::is_none", default)]
        this_dn: Option<String>,
        #[serde(rename = "Reasons", skip_serializing_if = "Option::is_none", default)]
        reasons: Option<KvList>,
    },
}

impl Event {
    /// An EventError answering `request`.
    pub fn error(request: &Request, this_dn: Option<&str>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::EventError {
            reference_id: request.reference_id(),
            this_dn: this_dn.map(str::to_owned),
            error_code: code,
            error_message: message.into(),
        }
    }

    /// The DN the event is about, if any.
    pub fn this_dn(&self) -> Option<&str> {
        match self {
            Self::EventServerInfo { .. } | Self::EventConfigReloaded { .. } => None,
            Self::EventPrivateInfo { this_dn, .. } => this_dn.as_deref(),
            Self::EventError { this_dn, .. } => this_dn.as_deref(),
            Self::EventRegistered { this_dn, .. }
            | Self::EventUnregistered { this_dn, .. }
            | Self::EventAddressInfo { this_dn, .. }
            | Self::EventAgentLogin { this_dn, .. }
            | Self::EventAgentLogout { this_dn, .. }
            | Self::EventAgentReady { this_dn, .. }
            | Self::EventAgentNotReady { this_dn, .. }
            | Self::EventRinging { this_dn, .. }
            | Self::EventDialing { this_dn, .. }
            | Self::EventEstablished { this_dn, .. }
            | Self::EventReleased { this_dn, .. }
            | Self::EventAbandoned { this_dn, .. }
            | Self::EventRouteRequest { this_dn, .. }
            | Self::EventRouteUsed { this_dn, .. }
            | Self::EventAgentReserved { this_dn, .. }
            | Self::EventTreatmentApplied { this_dn, .. }
            | Self::EventRemoteConnectionSuccess { this_dn, .. }
            | Self::EventRemoteConnectionFailure { this_dn, .. }
            | Self::EventDNOutOfService { this_dn }
            | Self::EventDNBackInService { this_dn } => Some(this_dn),
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
