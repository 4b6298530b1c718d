//! What a desktop, router or stat service asks of a site: [`Request`], one variant per
//! T-Library request.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{AgentWorkMode, KvList, RegisterMode, RouteType};

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
    /// Put the call on ThisDN on hold (`THoldCall`): the other party is held.
    RequestHoldCall {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
    },
    /// Take the call ThisDN holds off hold (`TRetrieveCall`).
    RequestRetrieveCall {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
    },
    /// Transfer the call on ThisDN to OtherDN in one step (`TSingleStepTransfer`):
    /// ThisDN leaves at once; the other party stays connected to Tandem and is offered to
    /// OtherDN (an Extension, a Routing Point, digits for a trunk, or an agent at the DR
    /// peer, named by `Location` or found by its login). Back to ThisDN if OtherDN does
    /// not answer.
    RequestSingleStepTransfer {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "Location", default)]
        location: Option<String>,
        /// Added to the call's UserData before it moves.
        #[serde(rename = "UserData", default)]
        user_data: Option<KvList>,
    },
    /// Transfer without consulting (`TMuteTransfer`): Tandem completes it at once, as a
    /// RequestSingleStepTransfer.
    RequestMuteTransfer {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "Location", default)]
        location: Option<String>,
        #[serde(rename = "UserData", default)]
        user_data: Option<KvList>,
    },
    /// Hold the call on ThisDN and call OtherDN for a consultation (`TInitiateTransfer`):
    /// the consultation call gets its own ConnID (CallType `Consult`); RequestCompleteTransfer
    /// then joins the held party to OtherDN, before or after OtherDN answers.
    RequestInitiateTransfer {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
        #[serde(rename = "Location", default)]
        location: Option<String>,
        /// The consultation call's UserData (it does not change the held call's).
        #[serde(rename = "UserData", default)]
        user_data: Option<KvList>,
    },
    /// Join the held call and the consultation call, and leave both (`TCompleteTransfer`):
    /// `ConnID` and `TransferConnID` name the two calls (either order); the held call's
    /// ConnID survives.
    RequestCompleteTransfer {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "TransferConnID")]
        transfer_conn_id: String,
    },
    /// Hold the active call and take the held one back (`TAlternateCall`).
    RequestAlternateCall {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "TransferConnID")]
        transfer_conn_id: String,
    },
    /// Release the active call (an unwanted consultation) and take the held one back
    /// (`TReconnectCall`).
    RequestReconnectCall {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "TransferConnID")]
        transfer_conn_id: String,
    },
    /// Start a conference (`TInitiateConference`). Mixing needs a media partner: without
    /// one the site answers EventError `NotSupported`.
    RequestInitiateConference {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
    },
    /// Complete a conference (`TCompleteConference`); see RequestInitiateConference.
    RequestCompleteConference {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "TransferConnID")]
        transfer_conn_id: String,
    },
    /// Remove OtherDN from a conference (`TDeleteFromConference`); see
    /// RequestInitiateConference.
    RequestDeleteFromConference {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
    },
    /// Send the call ringing on ThisDN to OtherDN instead (`TRedirectCall`).
    RequestRedirectCall {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "OtherDN")]
        other_dn: String,
    },
    /// Add keys to the call's UserData (`TAttachUserData`; a key already there keeps its
    /// value: use RequestUpdateUserData to change it).
    RequestAttachUserData {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "UserData")]
        user_data: KvList,
    },
    /// Add or replace keys of the call's UserData (`TUpdateUserData`).
    RequestUpdateUserData {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "UserData")]
        user_data: KvList,
    },
    /// Remove one key from the call's UserData (`TDeleteUserData`).
    RequestDeleteUserData {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ThisDN")]
        this_dn: String,
        #[serde(rename = "ConnID")]
        conn_id: String,
        #[serde(rename = "Key")]
        key: String,
    },
    /// Remove all of the call's UserData (`TDeleteAllUserData`).
    RequestDeleteAllUserData {
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
    /// up to `queue-max-wait`. With a media partner (`[site.media]`), a TreatmentType the
    /// site's `treatments` table names plays that file to the caller; otherwise the
    /// treatment (music, ringback) is the gateway's.
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
    /// A private service (`TPrivateService`): `ServiceID` 3019 starts the graceful shutdown
    /// of the site (BC-54); 3013, 3014, 3015 and 3016 start, stop, pause and resume the
    /// recording of call ConnID (Genesys SIP Server's `GSIP_RECORD_START`, `_STOP`,
    /// `_PAUSE`, `_RESUME`), on behalf of ThisDN, a party of the call or the Routing Point
    /// it waits on; answered by EventPrivateInfo with the same ServiceID.
    RequestPrivateService {
        #[serde(rename = "ReferenceID", default)]
        reference_id: Option<u64>,
        #[serde(rename = "ServiceID")]
        service_id: u32,
        /// The DN on whose behalf (the recording services).
        #[serde(rename = "ThisDN", default, skip_serializing_if = "Option::is_none")]
        this_dn: Option<String>,
        /// The call (the recording services).
        #[serde(rename = "ConnID", default, skip_serializing_if = "Option::is_none")]
        conn_id: Option<String>,
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
            | Self::RequestInitiateTransfer { reference_id, .. }
            | Self::RequestCompleteTransfer { reference_id, .. }
            | Self::RequestAlternateCall { reference_id, .. }
            | Self::RequestReconnectCall { reference_id, .. }
            | Self::RequestInitiateConference { reference_id, .. }
            | Self::RequestCompleteConference { reference_id, .. }
            | Self::RequestDeleteFromConference { reference_id, .. }
            | Self::RequestHoldCall { reference_id, .. }
            | Self::RequestRetrieveCall { reference_id, .. }
            | Self::RequestSingleStepTransfer { reference_id, .. }
            | Self::RequestMuteTransfer { reference_id, .. }
            | Self::RequestRedirectCall { reference_id, .. }
            | Self::RequestAttachUserData { reference_id, .. }
            | Self::RequestUpdateUserData { reference_id, .. }
            | Self::RequestDeleteUserData { reference_id, .. }
            | Self::RequestDeleteAllUserData { reference_id, .. }
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
            Self::RequestInitiateTransfer { .. } => "RequestInitiateTransfer",
            Self::RequestCompleteTransfer { .. } => "RequestCompleteTransfer",
            Self::RequestAlternateCall { .. } => "RequestAlternateCall",
            Self::RequestReconnectCall { .. } => "RequestReconnectCall",
            Self::RequestInitiateConference { .. } => "RequestInitiateConference",
            Self::RequestCompleteConference { .. } => "RequestCompleteConference",
            Self::RequestDeleteFromConference { .. } => "RequestDeleteFromConference",
            Self::RequestHoldCall { .. } => "RequestHoldCall",
            Self::RequestRetrieveCall { .. } => "RequestRetrieveCall",
            Self::RequestSingleStepTransfer { .. } => "RequestSingleStepTransfer",
            Self::RequestMuteTransfer { .. } => "RequestMuteTransfer",
            Self::RequestRedirectCall { .. } => "RequestRedirectCall",
            Self::RequestAttachUserData { .. } => "RequestAttachUserData",
            Self::RequestUpdateUserData { .. } => "RequestUpdateUserData",
            Self::RequestDeleteUserData { .. } => "RequestDeleteUserData",
            Self::RequestDeleteAllUserData { .. } => "RequestDeleteAllUserData",
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
