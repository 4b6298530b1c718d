//! What a site tells its clients: [`Event`], one variant per T-Library event.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{AgentState, AgentWorkMode, CallType, ErrorCode, KvList, Request};

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
        /// Absent for DNs no agent logs in on (Routing Points, trunks).
        #[serde(rename = "AgentState", skip_serializing_if = "Option::is_none", default)]
        agent_state: Option<AgentState>,
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
        /// Absent for DNs no agent logs in on (Routing Points, trunks).
        #[serde(rename = "AgentState", skip_serializing_if = "Option::is_none", default)]
        agent_state: Option<AgentState>,
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
        /// Set when the call was transferred here: the DN that transferred it.
        #[serde(rename = "ThirdPartyDN", skip_serializing_if = "Option::is_none", default)]
        third_party_dn: Option<String>,
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
    /// ThisDN put the call on hold (its other party, OtherDN, is held).
    EventHeld {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
    },
    /// ThisDN took the call off hold.
    EventRetrieved {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
    },
    /// The other party of ThisDN's call changed: ThirdPartyDN transferred it, and ThisDN
    /// now talks to (or is offered to) OtherDN.
    EventPartyChanged {
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        /// The consultation call's ConnID when a two-step transfer merged one.
        #[serde(rename = "PreviousConnID", skip_serializing_if = "Option::is_none", default)]
        previous_conn_id: Option<String>,
        #[serde(rename = "ThirdPartyDN")]
        third_party_dn: String,
        /// `Transferred` (or `Conferenced`).
        #[serde(rename = "CallState")]
        call_state: String,
    },
    /// ThirdPartyDN joined ThisDN's call, which is a conference now
    /// (RequestCompleteConference).
    EventPartyAdded {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "ThirdPartyDN")]
        third_party_dn: String,
    },
    /// ThirdPartyDN left ThisDN's conference (it hung up, or RequestDeleteFromConference).
    EventPartyDeleted {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "ThirdPartyDN")]
        third_party_dn: String,
    },
    /// The call's UserData changed; `UserData` is all of it now, ThirdPartyDN the DN
    /// whose client changed it.
    EventAttachedDataChanged {
        #[serde(rename = "ReferenceID", skip_serializing_if = "Option::is_none", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "ThirdPartyDN")]
        third_party_dn: String,
        #[serde(rename = "UserData")]
        user_data: KvList,
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
            | Self::EventHeld { this_dn, .. }
            | Self::EventRetrieved { this_dn, .. }
            | Self::EventPartyChanged { this_dn, .. }
            | Self::EventPartyAdded { this_dn, .. }
            | Self::EventPartyDeleted { this_dn, .. }
            | Self::EventAttachedDataChanged { this_dn, .. }
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
