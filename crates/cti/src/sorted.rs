//! Who answers a request, decided in one exhaustive match: the desks (DN registration,
//! queries, agents, reservations), the B2BUA (one call: [`CallRequest`], each field
//! already typed) or the process ([`ProcessRequest`]). A new request fails to compile
//! until it is sorted here.

use crate::{parse_conn_id, AgentWorkMode, KvList, RegisterMode, Request, RouteType};

/// A request sorted by who answers it ([`Request::sorted`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Sorted<'a> {
    /// The site's desks: RequestRegisterAddress, RequestUnregisterAddress,
    /// RequestQueryAddress, the agent requests and RequestReserveAgent.
    Desk(DeskRequest<'a>),
    /// The B2BUA: a request about one call.
    Call(CallRequest<'a>),
    /// The site or the process as a whole.
    Process(ProcessRequest),
}

/// A request the desks answer, on ThisDN.
#[derive(Debug, Clone, PartialEq)]
pub enum DeskRequest<'a> {
    /// RequestRegisterAddress.
    Register { this_dn: &'a str, mode: RegisterMode },
    /// RequestUnregisterAddress.
    Unregister { this_dn: &'a str },
    /// RequestQueryAddress.
    Query { this_dn: &'a str },
    /// RequestAgentLogin (its fields are read where the login is checked).
    Login,
    /// RequestAgentLogout.
    Logout { this_dn: &'a str, reasons: Option<&'a KvList> },
    /// RequestAgentReady.
    Ready { this_dn: &'a str, work_mode: AgentWorkMode },
    /// RequestAgentNotReady.
    NotReady { this_dn: &'a str, work_mode: AgentWorkMode, reasons: Option<&'a KvList> },
    /// RequestReserveAgent (its fields are read where reservations are collected).
    Reserve,
}

/// A request about one call, on ThisDN.
#[derive(Debug, Clone, PartialEq)]
pub enum CallRequest<'a> {
    /// RequestMakeCall: call OtherDN from ThisDN.
    Make { this_dn: &'a str, other_dn: &'a str, user_data: Option<&'a KvList> },
    /// RequestAnswerCall: answer the call ringing on ThisDN.
    Answer { this_dn: &'a str, conn: Option<u64> },
    /// RequestReleaseCall: release the call on ThisDN.
    Release { this_dn: &'a str, conn: Option<u64> },
    /// RequestRouteCall: send the call waiting on Routing Point ThisDN on (or reject it).
    Route {
        this_dn: &'a str,
        conn: Option<u64>,
        other_dn: Option<&'a str>,
        route_type: RouteType,
        location: Option<&'a str>,
    },
    /// RequestApplyTreatment: the router has the call in hand.
    ApplyTreatment { this_dn: &'a str, conn_id: &'a str, conn: Option<u64>, treatment: Option<&'a str> },
    /// RequestHoldCall: hold the other party of the call on ThisDN.
    Hold { this_dn: &'a str, conn: Option<u64> },
    /// RequestRetrieveCall: take it off hold.
    Retrieve { this_dn: &'a str, conn: Option<u64> },
    /// RequestSingleStepTransfer and RequestMuteTransfer: ThisDN leaves, the call goes on
    /// to OtherDN.
    Transfer(Transfer<'a>),
    /// RequestRedirectCall: the call ringing on ThisDN rings OtherDN instead.
    Redirect { this_dn: &'a str, conn: Option<u64>, other_dn: &'a str },
    /// The UserData requests.
    UserData { this_dn: &'a str, conn: Option<u64>, change: UserDataChange<'a> },
    /// RequestInitiateTransfer: hold the call and consult OtherDN.
    Consult(Transfer<'a>),
    /// RequestCompleteTransfer, RequestAlternateCall, RequestReconnectCall: an operation on
    /// ThisDN's held call and its active one (`conn` and `other`, either order).
    Pair { this_dn: &'a str, conn: Option<u64>, other: Option<u64>, op: PairOp },
    /// RequestDeleteFromConference: OtherDN leaves the conference on ThisDN.
    DeleteFromConference { this_dn: &'a str, conn: Option<u64>, other_dn: &'a str },
    /// RequestPrivateService 3013-3016: start, stop, pause or resume the call's recording.
    Record { this_dn: &'a str, conn: Option<u64>, op: RecordOp },
}

/// What a recording service does (RequestPrivateService 3013-3016).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOp {
    /// 3013: record the call from now (or from its answer).
    Start,
    /// 3014: stop recording it.
    Stop,
    /// 3015: pause (the recording is silent until resumed).
    Pause,
    /// 3016: resume a paused recording.
    Resume,
}

impl RecordOp {
    /// The service of a RequestPrivateService ServiceID, if it is a recording one.
    pub fn of_service(service_id: u32) -> Option<Self> {
        match service_id {
            3013 => Some(Self::Start),
            3014 => Some(Self::Stop),
            3015 => Some(Self::Pause),
            3016 => Some(Self::Resume),
            _ => None,
        }
    }

    /// Its ServiceID.
    pub fn service_id(self) -> u32 {
        match self {
            Self::Start => 3013,
            Self::Stop => 3014,
            Self::Pause => 3015,
            Self::Resume => 3016,
        }
    }
}

/// What RequestCompleteTransfer, RequestAlternateCall and RequestReconnectCall do with a
/// held call and an active one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairOp {
    /// Join them and leave both.
    Complete,
    /// Hold the active one, take back the held one.
    Alternate,
    /// Release the active one, take back the held one.
    Reconnect,
    /// Join them in a conference (the consulted party, the held party and ThisDN).
    Conference,
}

/// A one-step transfer's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer<'a> {
    /// The DN that leaves the call.
    pub this_dn: &'a str,
    /// The call.
    pub conn: Option<u64>,
    /// Where the call goes.
    pub other_dn: &'a str,
    /// The site OtherDN is at, when not this one.
    pub location: Option<&'a str>,
    /// Added to the call's UserData first.
    pub user_data: Option<&'a KvList>,
}

/// How a UserData request changes a call's data.
#[derive(Debug, Clone, PartialEq)]
pub enum UserDataChange<'a> {
    /// Add keys that are not there yet.
    Attach(&'a KvList),
    /// Add keys, replacing those already there.
    Update(&'a KvList),
    /// Remove one key.
    Delete(&'a str),
    /// Remove every key.
    DeleteAll,
}

/// A request for the site or the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessRequest {
    /// RequestReloadConfig: re-read the configuration file (the process answers).
    ReloadConfig,
    /// RequestPrivateService 3019: begin the site's graceful shutdown (BC-54).
    Shutdown,
    /// A private service this site does not offer.
    UnknownService(u32),
}

impl CallRequest<'_> {
    /// The DN the request is about.
    pub fn this_dn(&self) -> &str {
        match self {
            Self::Make { this_dn, .. }
            | Self::Answer { this_dn, .. }
            | Self::Release { this_dn, .. }
            | Self::Route { this_dn, .. }
            | Self::ApplyTreatment { this_dn, .. }
            | Self::Hold { this_dn, .. }
            | Self::Retrieve { this_dn, .. }
            | Self::Transfer(Transfer { this_dn, .. })
            | Self::Redirect { this_dn, .. }
            | Self::UserData { this_dn, .. }
            | Self::Consult(Transfer { this_dn, .. })
            | Self::Pair { this_dn, .. }
            | Self::DeleteFromConference { this_dn, .. }
            | Self::Record { this_dn, .. } => this_dn,
        }
    }
}

impl Request {
    /// Who answers this request (the one place requests are sorted).
    pub fn sorted(&self) -> Sorted<'_> {
        match self {
            Self::RequestRegisterAddress { this_dn, register_mode, .. } => {
                Sorted::Desk(DeskRequest::Register { this_dn, mode: *register_mode })
            }
            Self::RequestUnregisterAddress { this_dn, .. } => Sorted::Desk(DeskRequest::Unregister { this_dn }),
            Self::RequestQueryAddress { this_dn, .. } => Sorted::Desk(DeskRequest::Query { this_dn }),
            Self::RequestAgentLogin { .. } => Sorted::Desk(DeskRequest::Login),
            Self::RequestAgentLogout { this_dn, reasons, .. } => {
                Sorted::Desk(DeskRequest::Logout { this_dn, reasons: reasons.as_ref() })
            }
            Self::RequestAgentReady { this_dn, work_mode, .. } => {
                Sorted::Desk(DeskRequest::Ready { this_dn, work_mode: *work_mode })
            }
            Self::RequestAgentNotReady { this_dn, work_mode, reasons, .. } => {
                Sorted::Desk(DeskRequest::NotReady { this_dn, work_mode: *work_mode, reasons: reasons.as_ref() })
            }
            Self::RequestReserveAgent { .. } => Sorted::Desk(DeskRequest::Reserve),
            Self::RequestMakeCall { this_dn, other_dn, user_data, .. } => {
                Sorted::Call(CallRequest::Make { this_dn, other_dn, user_data: user_data.as_ref() })
            }
            Self::RequestAnswerCall { this_dn, conn_id, .. } => {
                Sorted::Call(CallRequest::Answer { this_dn, conn: parse_conn_id(conn_id) })
            }
            Self::RequestReleaseCall { this_dn, conn_id, .. } => {
                Sorted::Call(CallRequest::Release { this_dn, conn: parse_conn_id(conn_id) })
            }
            Self::RequestRouteCall { this_dn, conn_id, other_dn, route_type, location, .. } => {
                Sorted::Call(CallRequest::Route {
                    this_dn,
                    conn: parse_conn_id(conn_id),
                    other_dn: other_dn.as_deref(),
                    route_type: *route_type,
                    location: location.as_deref(),
                })
            }
            Self::RequestApplyTreatment { this_dn, conn_id, treatment_type, .. } => {
                Sorted::Call(CallRequest::ApplyTreatment {
                    this_dn,
                    conn_id,
                    conn: parse_conn_id(conn_id),
                    treatment: treatment_type.as_deref(),
                })
            }
            Self::RequestHoldCall { this_dn, conn_id, .. } => {
                Sorted::Call(CallRequest::Hold { this_dn, conn: parse_conn_id(conn_id) })
            }
            Self::RequestRetrieveCall { this_dn, conn_id, .. } => {
                Sorted::Call(CallRequest::Retrieve { this_dn, conn: parse_conn_id(conn_id) })
            }
            Self::RequestSingleStepTransfer { this_dn, conn_id, other_dn, location, user_data, .. }
            | Self::RequestMuteTransfer { this_dn, conn_id, other_dn, location, user_data, .. } => {
                Sorted::Call(CallRequest::Transfer(Transfer {
                    this_dn,
                    conn: parse_conn_id(conn_id),
                    other_dn,
                    location: location.as_deref(),
                    user_data: user_data.as_ref(),
                }))
            }
            Self::RequestRedirectCall { this_dn, conn_id, other_dn, .. } => {
                Sorted::Call(CallRequest::Redirect { this_dn, conn: parse_conn_id(conn_id), other_dn })
            }
            Self::RequestAttachUserData { this_dn, conn_id, user_data, .. } => {
                let change = UserDataChange::Attach(user_data);
                Sorted::Call(CallRequest::UserData { this_dn, conn: parse_conn_id(conn_id), change })
            }
            Self::RequestUpdateUserData { this_dn, conn_id, user_data, .. } => {
                let change = UserDataChange::Update(user_data);
                Sorted::Call(CallRequest::UserData { this_dn, conn: parse_conn_id(conn_id), change })
            }
            Self::RequestDeleteUserData { this_dn, conn_id, key, .. } => {
                let change = UserDataChange::Delete(key);
                Sorted::Call(CallRequest::UserData { this_dn, conn: parse_conn_id(conn_id), change })
            }
            Self::RequestDeleteAllUserData { this_dn, conn_id, .. } => {
                let change = UserDataChange::DeleteAll;
                Sorted::Call(CallRequest::UserData { this_dn, conn: parse_conn_id(conn_id), change })
            }
            Self::RequestInitiateTransfer { this_dn, conn_id, other_dn, location, user_data, .. } => {
                Sorted::Call(CallRequest::Consult(Transfer {
                    this_dn,
                    conn: parse_conn_id(conn_id),
                    other_dn,
                    location: location.as_deref(),
                    user_data: user_data.as_ref(),
                }))
            }
            Self::RequestCompleteTransfer { this_dn, conn_id, transfer_conn_id, .. } => {
                Sorted::Call(pair(this_dn, conn_id, transfer_conn_id, PairOp::Complete))
            }
            Self::RequestAlternateCall { this_dn, conn_id, transfer_conn_id, .. } => {
                Sorted::Call(pair(this_dn, conn_id, transfer_conn_id, PairOp::Alternate))
            }
            Self::RequestReconnectCall { this_dn, conn_id, transfer_conn_id, .. } => {
                Sorted::Call(pair(this_dn, conn_id, transfer_conn_id, PairOp::Reconnect))
            }
            Self::RequestInitiateConference { this_dn, conn_id, other_dn, .. } => {
                Sorted::Call(CallRequest::Consult(Transfer {
                    this_dn,
                    conn: parse_conn_id(conn_id),
                    other_dn,
                    location: None,
                    user_data: None,
                }))
            }
            Self::RequestCompleteConference { this_dn, conn_id, transfer_conn_id, .. } => {
                Sorted::Call(pair(this_dn, conn_id, transfer_conn_id, PairOp::Conference))
            }
            Self::RequestDeleteFromConference { this_dn, conn_id, other_dn, .. } => {
                Sorted::Call(CallRequest::DeleteFromConference { this_dn, conn: parse_conn_id(conn_id), other_dn })
            }
            Self::RequestReloadConfig { .. } => Sorted::Process(ProcessRequest::ReloadConfig),
            Self::RequestPrivateService { service_id: 3019, .. } => Sorted::Process(ProcessRequest::Shutdown),
            Self::RequestPrivateService { service_id, this_dn, conn_id, .. } => match RecordOp::of_service(*service_id)
            {
                Some(op) => Sorted::Call(CallRequest::Record {
                    this_dn: this_dn.as_deref().unwrap_or(""),
                    conn: conn_id.as_deref().and_then(parse_conn_id),
                    op,
                }),
                None => Sorted::Process(ProcessRequest::UnknownService(*service_id)),
            },
        }
    }

    /// The DN the request names, if it names one.
    pub fn this_dn(&self) -> Option<&str> {
        match self {
            Self::RequestRegisterAddress { this_dn, .. }
            | Self::RequestUnregisterAddress { this_dn, .. }
            | Self::RequestQueryAddress { this_dn, .. }
            | Self::RequestAgentLogin { this_dn, .. }
            | Self::RequestAgentLogout { this_dn, .. }
            | Self::RequestAgentReady { this_dn, .. }
            | Self::RequestAgentNotReady { this_dn, .. }
            | Self::RequestReserveAgent { this_dn, .. }
            | Self::RequestMakeCall { this_dn, .. }
            | Self::RequestAnswerCall { this_dn, .. }
            | Self::RequestReleaseCall { this_dn, .. }
            | Self::RequestRouteCall { this_dn, .. }
            | Self::RequestApplyTreatment { this_dn, .. }
            | Self::RequestHoldCall { this_dn, .. }
            | Self::RequestRetrieveCall { this_dn, .. }
            | Self::RequestSingleStepTransfer { this_dn, .. }
            | Self::RequestMuteTransfer { this_dn, .. }
            | Self::RequestRedirectCall { this_dn, .. }
            | Self::RequestAttachUserData { this_dn, .. }
            | Self::RequestUpdateUserData { this_dn, .. }
            | Self::RequestDeleteUserData { this_dn, .. }
            | Self::RequestDeleteAllUserData { this_dn, .. }
            | Self::RequestInitiateTransfer { this_dn, .. }
            | Self::RequestCompleteTransfer { this_dn, .. }
            | Self::RequestAlternateCall { this_dn, .. }
            | Self::RequestReconnectCall { this_dn, .. }
            | Self::RequestInitiateConference { this_dn, .. }
            | Self::RequestCompleteConference { this_dn, .. }
            | Self::RequestDeleteFromConference { this_dn, .. } => Some(this_dn),
            Self::RequestPrivateService { this_dn, .. } => this_dn.as_deref(),
            Self::RequestReloadConfig { .. } => None,
        }
    }
}

/// A request on two calls of ThisDN.
fn pair<'a>(this_dn: &'a str, conn_id: &str, other: &str, op: PairOp) -> CallRequest<'a> {
    CallRequest::Pair { this_dn, conn: parse_conn_id(conn_id), other: parse_conn_id(other), op }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_is_sorted_to_the_desks_a_call_or_the_process() {
        let route: Request = serde_json::from_str(
            r#"{"message":"RequestRouteCall","ThisDN":"5000","ConnID":"00000000000000ff","OtherDN":"1001"}"#,
        )
        .expect("valid");
        let Sorted::Call(call) = route.sorted() else { panic!("a call request: {route:?}") };
        assert_eq!(call.this_dn(), "5000");
        assert!(matches!(call, CallRequest::Route { conn: Some(255), other_dn: Some("1001"), .. }));
        let bad_conn = Request::RequestReleaseCall { reference_id: None, this_dn: "1".into(), conn_id: "zz".into() };
        assert_eq!(bad_conn.sorted(), Sorted::Call(CallRequest::Release { this_dn: "1", conn: None }));
        let login: Request =
            serde_json::from_str(r#"{"message":"RequestAgentLogin","ThisDN":"1001","AgentID":"A1"}"#).expect("valid");
        assert_eq!(login.sorted(), Sorted::Desk(DeskRequest::Login));
        let stop =
            Request::RequestPrivateService { reference_id: None, service_id: 3019, this_dn: None, conn_id: None };
        assert_eq!(stop.sorted(), Sorted::Process(ProcessRequest::Shutdown));
        let other = Request::RequestPrivateService { reference_id: None, service_id: 7, this_dn: None, conn_id: None };
        assert_eq!(other.sorted(), Sorted::Process(ProcessRequest::UnknownService(7)));
        assert_eq!(other.this_dn(), None);
    }

    #[test]
    fn recording_services_are_call_requests_on_this_dn() {
        let json =
            r#"{"message":"RequestPrivateService","ServiceID":3015,"ThisDN":"1001","ConnID":"00000000000000ff"}"#;
        let pause: Request = serde_json::from_str(json).expect("valid");
        assert_eq!(
            pause.sorted(),
            Sorted::Call(CallRequest::Record { this_dn: "1001", conn: Some(255), op: RecordOp::Pause })
        );
        assert_eq!(pause.this_dn(), Some("1001"));
        for id in 3013..=3016 {
            assert_eq!(RecordOp::of_service(id).map(RecordOp::service_id), Some(id));
        }
        let no_call: Request =
            serde_json::from_str(r#"{"message":"RequestPrivateService","ServiceID":3013}"#).expect("valid");
        assert_eq!(
            no_call.sorted(),
            Sorted::Call(CallRequest::Record { this_dn: "", conn: None, op: RecordOp::Start })
        );
    }
}
