//! CTI requests from desktops: agent and registration requests go to [`Desks`], call
//! requests (release, route, make, answer) to the B2BUA; failures become EventError.

use std::time::Instant;

use super::Node;
use crate::b2bua::{Refusal, RouteOrder};
use crate::desks::{DeskId, DeskWorld};
use crate::peering::Peering;
use crate::registrar::Registrar;
use crate::trunks::TrunkMonitor;
use crate::NodeConfig;

impl Node {
    /// One CTI request, sorted once ([`cti::Request::sorted`]): the desks answer DN and
    /// agent requests, the B2BUA call requests (from a desktop that registered ThisDN),
    /// the node itself the site's private services; a failure becomes an EventError.
    pub(super) fn handle_desk(&mut self, now: Instant, desk: DeskId, request: &cti::Request) {
        let sorted = request.sorted();
        let remote_route = matches!(sorted, cti::Sorted::Call(cti::CallRequest::Route { location: Some(_), .. }));
        let result = match sorted {
            cti::Sorted::Desk(sorted) => {
                let world = DeskView {
                    config: &self.config,
                    registrar: &self.registrar,
                    trunks: &self.trunks,
                    peering: &self.peering,
                    now,
                };
                self.desks.handle(&world, desk, request, sorted);
                self.replay_waiting_calls(now, desk, request);
                Ok(())
            }
            cti::Sorted::Call(call) => match self.desks.check_registered(desk, request, call.this_dn()) {
                true => self.call_request(now, desk, request, call),
                false => Ok(()),
            },
            cti::Sorted::Process(cti::ProcessRequest::Shutdown) => {
                self.begin_shutdown(now);
                let reference_id = request.reference_id();
                let event =
                    cti::Event::EventPrivateInfo { reference_id, service_id: 3019, this_dn: None, reasons: None };
                self.desk_out.push_back((desk, event));
                Ok(())
            }
            // A reload is the process's (the shell answers it before the engine sees it).
            cti::Sorted::Process(cti::ProcessRequest::ReloadConfig | cti::ProcessRequest::UnknownService(_)) => {
                Err(cti::ErrorCode::NotSupported.into())
            }
        };
        if let Err(Refusal { code, text }) = result {
            let text = if code == cti::ErrorCode::InvalidState && remote_route {
                "Location names no DR peer whose trunk is in service"
            } else {
                text
            };
            self.desk_out.push_back((desk, cti::Event::error(request, request.this_dn(), code, text)));
        }
        self.collect(now);
    }

    /// A call request from a desktop that registered its ThisDN.
    fn call_request(
        &mut self,
        now: Instant,
        desk: DeskId,
        request: &cti::Request,
        call: cti::CallRequest<'_>,
    ) -> Result<(), Refusal> {
        use cti::CallRequest as C;
        let (reference_id, requester) = (request.reference_id(), Some(desk));
        match call {
            C::Release { conn: None, .. }
            | C::Answer { conn: None, .. }
            | C::Route { conn: None, .. }
            | C::ApplyTreatment { conn: None, .. } => Err(cti::ErrorCode::NoSuchCall.into()),
            C::Release { this_dn, conn: Some(conn) } => {
                Ok(self.with_b2bua(now, |b, ctx| b.release(ctx, conn, this_dn))?)
            }
            C::Answer { this_dn, conn: Some(conn) } => {
                Ok(self.with_b2bua(now, |b, ctx| b.answer_call(ctx, conn, this_dn))?)
            }
            C::Hold { .. }
            | C::Retrieve { .. }
            | C::Transfer(_)
            | C::Redirect { .. }
            | C::UserData { .. }
            | C::Consult(_)
            | C::Pair { .. }
            | C::DeleteFromConference { .. }
            | C::Record { .. } => self.call_control(now, desk, request, call),
            C::Route { this_dn, conn: Some(conn), route_type: cti::RouteType::Reject, .. } => {
                Ok(self.with_b2bua(now, |b, ctx| b.reject_routed(ctx, conn, this_dn))?)
            }
            C::Route { other_dn: None, .. } => Err(cti::ErrorCode::InvalidRequest.into()),
            C::Route { this_dn, conn: Some(conn_id), other_dn: Some(target), location, .. } => {
                let here = location.is_none_or(|l| l == self.config.site);
                if here && self.desks.reserved_for_other(target, desk, now) {
                    return Err(cti::ErrorCode::AgentReserved.into());
                }
                let order = RouteOrder { conn_id, rp: this_dn, target, reference_id, requester, location };
                Ok(self.with_b2bua(now, |b, ctx| b.route(ctx, order))?)
            }
            C::ApplyTreatment { this_dn, conn_id, conn: Some(conn), treatment } => {
                self.with_b2bua(now, |b, ctx| b.hold_for_router(ctx, conn, this_dn, treatment))?;
                let event = cti::Event::EventTreatmentApplied {
                    reference_id,
                    this_dn: this_dn.to_owned(),
                    conn_id: conn_id.to_owned(),
                };
                self.desk_out.push_back((desk, event));
                Ok(())
            }
            C::Make { .. } if self.shutting_down => Err(cti::ErrorCode::ShuttingDown.into()),
            C::Make { other_dn, user_data, .. } if !fits_in_sip(other_dn, user_data) => {
                Err(cti::ErrorCode::InvalidRequest.into())
            }
            C::Make { this_dn, other_dn, user_data } => {
                Ok(self.with_b2bua(now, |b, ctx| b.make_call(ctx, this_dn, other_dn, user_data)).map(|_| ())?)
            }
        }
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
    other_dn.len() <= MAX_DIALED && user_data.is_none_or(crate::intake::user_data_fits)
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
