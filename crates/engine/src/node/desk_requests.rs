//! CTI requests from desktops: agent and registration requests go to [`Desks`], call
//! requests (release, route, make, answer) to the B2BUA; failures become EventError.

use std::time::Instant;

use super::Node;
use crate::b2bua::RouteOrder;
use crate::desks::{DeskId, DeskWorld};
use crate::peering::Peering;
use crate::registrar::Registrar;
use crate::trunks::TrunkMonitor;
use crate::NodeConfig;

impl Node {
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "a filter over CTI requests: the requests not named are handled elsewhere"
    )]
    pub(super) fn handle_desk(&mut self, now: Instant, desk: DeskId, request: &cti::Request) {
        let world = DeskView {
            config: &self.config,
            registrar: &self.registrar,
            trunks: &self.trunks,
            peering: &self.peering,
            now,
        };
        let Some(call_request) = self.desks.handle(&world, desk, request) else {
            self.replay_waiting_calls(now, desk, request);
            return;
        };
        let result = match call_request {
            cti::Request::RequestReleaseCall { this_dn, conn_id, .. } => match cti::parse_conn_id(conn_id) {
                Some(conn) => self.with_b2bua(now, |b, ctx| b.release(ctx, conn, this_dn)),
                None => Err(cti::ErrorCode::NoSuchCall),
            },
            cti::Request::RequestRouteCall { this_dn, conn_id, other_dn, route_type, reference_id, location } => {
                let conn = cti::parse_conn_id(conn_id);
                match (conn, route_type, other_dn) {
                    (None, ..) => Err(cti::ErrorCode::NoSuchCall),
                    (Some(conn), cti::RouteType::Reject, _) => {
                        self.with_b2bua(now, |b, ctx| b.reject_routed(ctx, conn, this_dn))
                    }
                    (Some(_), _, Some(target))
                        if location.as_deref().is_none_or(|l| l == self.config.site)
                            && self.desks.reserved_for_other(target, desk, now) =>
                    {
                        Err(cti::ErrorCode::AgentReserved)
                    }
                    (Some(conn_id), _, Some(target)) => {
                        let order = RouteOrder {
                            conn_id,
                            rp: this_dn,
                            target,
                            reference_id: *reference_id,
                            requester: Some(desk),
                            location: location.as_deref(),
                        };
                        self.with_b2bua(now, |b, ctx| b.route(ctx, order))
                    }
                    (Some(_), _, None) => Err(cti::ErrorCode::InvalidRequest),
                }
            }
            cti::Request::RequestApplyTreatment { this_dn, conn_id, reference_id, .. } => {
                match cti::parse_conn_id(conn_id) {
                    Some(conn) => self.with_b2bua(now, |b, ctx| b.hold_for_router(ctx, conn, this_dn)).map(|()| {
                        let event = cti::Event::EventTreatmentApplied {
                            reference_id: *reference_id,
                            this_dn: this_dn.clone(),
                            conn_id: conn_id.clone(),
                        };
                        self.desk_out.push_back((desk, event));
                    }),
                    None => Err(cti::ErrorCode::NoSuchCall),
                }
            }
            cti::Request::RequestAnswerCall { this_dn, conn_id, .. } => match cti::parse_conn_id(conn_id) {
                Some(conn) => self.with_b2bua(now, |b, ctx| b.answer_call(ctx, conn, this_dn)),
                None => Err(cti::ErrorCode::NoSuchCall),
            },
            cti::Request::RequestPrivateService { service_id: 3019, reference_id } => {
                self.begin_shutdown(now);
                self.desk_out.push_back((
                    desk,
                    cti::Event::EventPrivateInfo {
                        reference_id: *reference_id,
                        service_id: 3019,
                        this_dn: None,
                        reasons: None,
                    },
                ));
                Ok(())
            }
            cti::Request::RequestMakeCall { .. } if self.shutting_down => Err(cti::ErrorCode::ShuttingDown),
            cti::Request::RequestMakeCall { other_dn, user_data, .. } if !fits_in_sip(other_dn, user_data.as_ref()) => {
                Err(cti::ErrorCode::InvalidRequest)
            }
            cti::Request::RequestMakeCall { this_dn, other_dn, user_data, .. } => {
                self.with_b2bua(now, |b, ctx| b.make_call(ctx, this_dn, other_dn, user_data.as_ref())).map(|_| ())
            }
            _ => Err(cti::ErrorCode::NotSupported),
        };
        if let Err(code) = result {
            let text = match code {
                cti::ErrorCode::NoSuchCall => "no such call on ThisDN",
                cti::ErrorCode::UnknownDN => "a DN of the request is not reachable from this site",
                cti::ErrorCode::InvalidState if is_remote_route(request) => {
                    "Location names no DR peer whose trunk is in service"
                }
                cti::ErrorCode::InvalidState => "no phone in a state to do this (not registered, or not ringing yet)",
                cti::ErrorCode::InvalidRequest => {
                    "OtherDN is required, of at most 128 characters, and UserData at most 4,096 bytes of JSON"
                }
                cti::ErrorCode::ShuttingDown => "the site is shutting down",
                cti::ErrorCode::AgentReserved => "the agent is reserved by another client",
                cti::ErrorCode::NotSupported => "not supported by this site yet",
                cti::ErrorCode::NotAuthenticated => "the client is not authenticated",
                cti::ErrorCode::UnknownAgent => "the AgentID is not a configured agent login",
                cti::ErrorCode::BadPassword => "the password is wrong",
                cti::ErrorCode::DNInUse => "another agent is logged in on this DN",
                cti::ErrorCode::AgentAlreadyLoggedIn => "this agent is already logged in elsewhere",
                cti::ErrorCode::NoAgentLoggedIn => "no agent is logged in on ThisDN",
                cti::ErrorCode::NotRegistered => "the client did not register ThisDN",
                cti::ErrorCode::NotPermitted => "the client's token does not allow this request",
            };
            self.desk_out.push_back((desk, cti::Event::error(request, request_dn(request), code, text)));
        }
        self.collect(now);
    }
}

impl Node {
    /// A client that registers a Routing Point (a router or stat service starting or
    /// reconnecting) hears of the calls already waiting there, as EventRouteRequest.
    fn replay_waiting_calls(&mut self, now: Instant, desk: DeskId, request: &cti::Request) {
        let cti::Request::RequestRegisterAddress { this_dn, .. } = request else { return };
        if self.config.dns.kind(this_dn) != Some(crate::DnKind::RoutingPoint) {
            return;
        }
        self.collect(now); // EventRegistered first
        for (conn_id, other, call_type) in self.b2bua.waiting_on(this_dn) {
            let event = cti::Event::EventRouteRequest {
                this_dn: this_dn.clone(),
                this_queue: this_dn.clone(),
                other_dn: other,
                conn_id: cti::conn_id_text(conn_id),
                call_type,
                server: self.config.site.clone(),
            };
            self.desk_out.push_back((desk, event));
        }
    }
}

/// Longest OtherDN a desk may dial: it becomes the user part of SIP URIs.
const MAX_DIALED: usize = 128;

/// True when a MakeCall's OtherDN and UserData fit in the SIP messages they go into
/// (UserData travels to the DR peer as one header line, whose value the peer refuses
/// over [`crate::intake::MAX_COPIED_FIELD`]).
fn fits_in_sip(other_dn: &str, user_data: Option<&cti::KvList>) -> bool {
    let data_len = user_data.and_then(|d| serde_json::to_string(d).ok()).map_or(0, |j| j.len());
    other_dn.len() <= MAX_DIALED && data_len <= crate::intake::MAX_COPIED_FIELD
}

/// What desk requests may read of the node.
struct DeskView<'a> {
    config: &'a NodeConfig,
    registrar: &'a Registrar,
    trunks: &'a TrunkMonitor,
    peering: &'a Peering,
    now: Instant,
}

impl DeskWorld for DeskView<'_> {
    fn config(&self) -> &NodeConfig {
        self.config
    }

    fn in_service(&self, dn: &str) -> bool {
        match self.config.dns.kind(dn) {
            Some(kind) if kind.is_agent_line() => !self.registrar.bindings.of(dn).is_empty(),
            Some(crate::DnKind::Trunk) => self.trunks.usable(dn),
            Some(_) => true,
            None => false,
        }
    }

    fn agent_at_peer(&self, agent: &str) -> bool {
        self.peering.has_agent(agent)
    }

    fn now(&self) -> Instant {
        self.now
    }
}

fn is_remote_route(request: &cti::Request) -> bool {
    matches!(request, cti::Request::RequestRouteCall { location: Some(_), .. })
}

#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "a filter over CTI requests: the requests not named are handled elsewhere"
)]
fn request_dn(request: &cti::Request) -> Option<&str> {
    match request {
        cti::Request::RequestMakeCall { this_dn, .. }
        | cti::Request::RequestAnswerCall { this_dn, .. }
        | cti::Request::RequestReleaseCall { this_dn, .. }
        | cti::Request::RequestRouteCall { this_dn, .. }
        | cti::Request::RequestApplyTreatment { this_dn, .. } => Some(this_dn),
        _ => None,
    }
}
