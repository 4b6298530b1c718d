//! A desktop's agent and DN requests: RequestRegisterAddress and its kin, agent login,
//! logout and state changes; what the desks cannot answer goes back to the node.

use std::time::Instant;

use cti::{AgentState, AgentWorkMode, DeskRequest, ErrorCode, Event, RegisterMode, Request};

use super::agents::Agent;
use super::{millis_since, DeskId, DeskWorld, Desks};

impl Desks {
    /// Handles a request [`Request::sorted`] gave the desks: registrations, queries,
    /// agents, reservations (`req` is the whole request, for its ReferenceID and errors).
    pub(crate) fn handle(&mut self, world: &impl DeskWorld, desk: DeskId, req: &Request, sorted: DeskRequest<'_>) {
        match sorted {
            DeskRequest::Register { this_dn, mode } => self.register_address(world, desk, req, this_dn, mode),
            DeskRequest::Unregister { this_dn } => self.unregister_address(desk, req, this_dn),
            DeskRequest::Query { this_dn } => self.query_address(world, desk, req, this_dn),
            DeskRequest::Login => self.login(world, desk, req),
            DeskRequest::Logout { this_dn, reasons } => self.logout_request(desk, req, this_dn, reasons),
            DeskRequest::Ready { this_dn, work_mode } => self.ready(world, desk, req, this_dn, work_mode),
            DeskRequest::NotReady { this_dn, work_mode, reasons } => {
                self.not_ready(world, desk, req, this_dn, work_mode, reasons)
            }
            DeskRequest::Reserve => self.reserve(world, desk, req),
        }
    }

    /// RequestRegisterAddress: the desk hears `this_dn`'s events from now on.
    fn register_address(
        &mut self,
        world: &impl DeskWorld,
        desk: DeskId,
        req: &Request,
        this_dn: &str,
        register_mode: RegisterMode,
    ) {
        let reference_id = req.reference_id();
        if !world.config().dns.contains(this_dn) {
            self.error(desk, req, Some(this_dn), ErrorCode::UnknownDN, "DN is not provisioned at this site");
            return;
        }
        if register_mode == RegisterMode::ModeMonitor {
            self.monitors.insert((this_dn.to_owned(), desk));
        } else {
            self.monitors.remove(&(this_dn.to_owned(), desk));
        }
        self.by_dn.entry(this_dn.to_owned()).or_default().insert(desk);
        self.by_desk.entry(desk).or_default().insert(this_dn.to_owned());
        let at = self.agents.at(this_dn);
        let agent_line = world.config().dns.kind(this_dn).is_some_and(crate::DnKind::is_agent_line);
        let agent_state = agent_line.then(|| at.map_or(AgentState::LoggedOut, |(_, a)| a.state));
        let agent = at.map(|(id, _)| id.to_owned());
        let event = Event::EventRegistered {
            reference_id,
            this_dn: this_dn.to_owned(),
            in_service: world.in_service(this_dn),
            agent_id: agent,
            agent_state,
            time_in_state_ms: at.map(|(_, a)| millis_since(world.now(), a.state_since)),
        };
        self.out.push((desk, event));
    }

    /// RequestUnregisterAddress.
    fn unregister_address(&mut self, desk: DeskId, req: &Request, this_dn: &str) {
        let reference_id = req.reference_id();
        self.monitors.remove(&(this_dn.to_owned(), desk));
        if let Some(set) = self.by_dn.get_mut(this_dn) {
            set.remove(&desk);
        }
        if let Some(set) = self.by_desk.get_mut(&desk) {
            set.remove(this_dn);
        }
        self.out.push((desk, Event::EventUnregistered { reference_id, this_dn: this_dn.to_owned() }));
    }

    /// RequestQueryAddress: the DN's state and its agent's.
    fn query_address(&mut self, world: &impl DeskWorld, desk: DeskId, req: &Request, this_dn: &str) {
        let reference_id = req.reference_id();
        let at = self.agents.at(this_dn);
        let a = at.map(|(_, a)| a);
        let event = Event::EventAddressInfo {
            reference_id,
            this_dn: this_dn.to_owned(),
            in_service: world.in_service(this_dn),
            agent_id: at.map(|(id, _)| id.to_owned()),
            agent_state: world
                .config()
                .dns
                .kind(this_dn)
                .is_some_and(crate::DnKind::is_agent_line)
                .then(|| a.map_or(AgentState::LoggedOut, |a| a.state)),
            time_in_state_ms: a.map(|a| millis_since(world.now(), a.state_since)),
            work_mode: a.map_or(AgentWorkMode::Unknown, |a| a.work_mode),
        };
        self.out.push((desk, event));
    }

    /// RequestAgentLogout by the desk on `this_dn`.
    fn logout_request(&mut self, desk: DeskId, req: &Request, this_dn: &str, reasons: Option<&cti::KvList>) {
        let reference_id = req.reference_id();
        let Some(agent_id) = self.registered_agent(desk, req, this_dn) else { return };
        self.agents.log_out(this_dn, &agent_id);
        self.reservations.release(&agent_id);
        let event =
            Event::EventAgentLogout { reference_id, this_dn: this_dn.to_owned(), agent_id, reasons: reasons.cloned() };
        self.answer_and_broadcast(desk, event);
    }

    /// RequestAgentReady (ManualIn unless AutoIn or ReturnBack is asked).
    fn ready(&mut self, world: &impl DeskWorld, desk: DeskId, req: &Request, this_dn: &str, work_mode: AgentWorkMode) {
        let reference_id = req.reference_id();
        let Some(agent_id) = self.registered_agent(desk, req, this_dn) else { return };
        let mode = if matches!(work_mode, AgentWorkMode::AutoIn | AgentWorkMode::ReturnBack) {
            work_mode
        } else {
            AgentWorkMode::ManualIn
        };
        self.set_state(world.now(), &agent_id, AgentState::Ready, mode, None);
        let event = Event::EventAgentReady { reference_id, this_dn: this_dn.to_owned(), agent_id, work_mode: mode };
        self.answer_and_broadcast(desk, event);
    }

    /// RequestAgentNotReady (AuxWork unless a work mode is asked).
    fn not_ready(
        &mut self,
        world: &impl DeskWorld,
        desk: DeskId,
        req: &Request,
        this_dn: &str,
        work_mode: AgentWorkMode,
        reasons: Option<&cti::KvList>,
    ) {
        let reference_id = req.reference_id();
        let Some(agent_id) = self.registered_agent(desk, req, this_dn) else { return };
        let mode = if work_mode == AgentWorkMode::Unknown { AgentWorkMode::AuxWork } else { work_mode };
        self.set_state(world.now(), &agent_id, AgentState::NotReady, mode, None);
        let event = Event::EventAgentNotReady {
            reference_id,
            this_dn: this_dn.to_owned(),
            agent_id,
            work_mode: mode,
            reasons: reasons.cloned(),
        };
        self.answer_and_broadcast(desk, event);
    }

    /// Whether `desk` registered `this_dn` (a call request needs it); if not, it hears
    /// NotRegistered.
    pub(crate) fn check_registered(&mut self, desk: DeskId, req: &Request, this_dn: &str) -> bool {
        if self.by_desk.get(&desk).is_some_and(|s| s.contains(this_dn)) {
            return true;
        }
        let text = "register ThisDN first (RequestRegisterAddress)";
        self.error(desk, req, Some(this_dn), ErrorCode::NotRegistered, text);
        false
    }

    /// RequestAgentLogin: checked against the agent logins, the DN, the desk's
    /// registrations and the DR peer's presence, then applied and told.
    pub(super) fn login(&mut self, world: &impl DeskWorld, desk: DeskId, req: &Request) {
        let Request::RequestAgentLogin { this_dn: dn, agent_id, password, work_mode: mode, .. } = req else {
            return;
        };
        let (dn, agent_id, mode) = (dn.as_str(), agent_id.as_str(), *mode);
        if !self.may_log_in(world, desk, req, dn, agent_id, password.as_deref()) {
            return;
        }
        let ready = matches!(mode, AgentWorkMode::ManualIn | AgentWorkMode::AutoIn);
        let state = if ready { AgentState::Ready } else { AgentState::NotReady };
        let work_mode = if ready { mode } else { AgentWorkMode::AuxWork };
        let now = world.now();
        let agent = Agent { dn: dn.to_owned(), state, work_mode, acw_until: None, since: now, state_since: now };
        self.agents.log_in(agent_id, agent);
        let reference_id = req.reference_id();
        self.answer_and_broadcast(
            desk,
            Event::EventAgentLogin { reference_id, this_dn: dn.to_owned(), agent_id: agent_id.to_owned() },
        );
        let (this_dn, agent_id) = (dn.to_owned(), agent_id.to_owned());
        let follow = if ready {
            Event::EventAgentReady { reference_id: None, this_dn, agent_id, work_mode }
        } else {
            Event::EventAgentNotReady { reference_id: None, this_dn, agent_id, work_mode, reasons: None }
        };
        self.broadcast(follow);
    }

    /// Whether `agent_id` may log in on `dn` now; if not, the desk hears why (or, for an
    /// agent already logged in there, its login confirmed).
    fn may_log_in(
        &mut self,
        world: &impl DeskWorld,
        desk: DeskId,
        req: &Request,
        dn: &str,
        agent_id: &str,
        password: Option<&str>,
    ) -> bool {
        let config = world.config();
        let Some(login) = config.agents.get(agent_id) else {
            self.error(desk, req, Some(dn), ErrorCode::UnknownAgent, "no such agent login at this site");
            return false;
        };
        let refusal = if login.password.as_deref().is_some_and(|p| Some(p) != password) {
            Some((ErrorCode::BadPassword, "wrong password".to_owned()))
        } else if !config.dns.kind(dn).is_some_and(crate::DnKind::is_agent_line) {
            Some((ErrorCode::UnknownDN, "agents log in on an Extension or ACD Position of this site".to_owned()))
        } else {
            None
        };
        if let Some((code, text)) = refusal {
            self.error(desk, req, Some(dn), code, &text);
            return false;
        }
        if !self.check_registered(desk, req, dn) {
            return false;
        }
        let refusal = match self.agents.on(dn) {
            Some(other) if other != agent_id => {
                Some((ErrorCode::DNInUse, "another agent is logged in on this DN".into()))
            }
            // Already logged in here (a desktop reconnecting): confirm, keep the state.
            Some(_) => {
                self.confirm_login(desk, req, dn, agent_id);
                return false;
            }
            None => match self.agents.get(agent_id) {
                Some(a) => Some((ErrorCode::AgentAlreadyLoggedIn, format!("agent is logged in on DN {}", a.dn))),
                None if world.agent_at_peer(agent_id) => Some((
                    ErrorCode::AgentAlreadyLoggedIn,
                    "agent is logged in at the DR peer site (log out there first)".into(),
                )),
                None => None,
            },
        };
        match refusal {
            Some((code, text)) => {
                self.error(desk, req, Some(dn), code, &text);
                false
            }
            None => true,
        }
    }

    /// EventAgentLogin for an agent already logged in on `dn`, then its current state, to
    /// the asking desk only: a repeated login changes nothing.
    pub(super) fn confirm_login(&mut self, desk: DeskId, req: &Request, dn: &str, agent_id: &str) {
        let Some((_, agent)) = self.agents.at(dn) else { return };
        let (state, work_mode) = (agent.state, agent.work_mode);
        let (this_dn, agent_id) = (dn.to_owned(), agent_id.to_owned());
        let login = Event::EventAgentLogin {
            reference_id: req.reference_id(),
            this_dn: this_dn.clone(),
            agent_id: agent_id.clone(),
        };
        self.out.push((desk, login));
        let current = if state == AgentState::Ready {
            Event::EventAgentReady { reference_id: None, this_dn, agent_id, work_mode }
        } else {
            Event::EventAgentNotReady { reference_id: None, this_dn, agent_id, work_mode, reasons: None }
        };
        self.out.push((desk, current));
    }

    pub(super) fn registered_agent(&mut self, desk: DeskId, req: &Request, dn: &str) -> Option<String> {
        if !self.check_registered(desk, req, dn) {
            return None;
        }
        let agent = self.agents.on(dn).map(str::to_owned);
        if agent.is_none() {
            self.error(desk, req, Some(dn), ErrorCode::NoAgentLoggedIn, "no agent is logged in on this DN");
        }
        agent
    }

    pub(super) fn set_state(
        &mut self,
        now: Instant,
        agent_id: &str,
        state: AgentState,
        mode: AgentWorkMode,
        acw_until: Option<Instant>,
    ) {
        self.agents.set_state(now, agent_id, state, mode, acw_until);
    }

    /// Logs the agent out on the server's initiative, telling the desktops why.
    pub(super) fn logout(&mut self, dn: &str, agent_id: &str, reasons: cti::KvList) {
        self.agents.log_out(dn, agent_id);
        self.reservations.release(agent_id);
        self.broadcast(Event::EventAgentLogout {
            reference_id: None,
            this_dn: dn.to_owned(),
            agent_id: agent_id.to_owned(),
            reasons: Some(reasons),
        });
    }
}
