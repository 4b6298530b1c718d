//! How domain events become the T-Library events desktops see (EventRinging,
//! EventEstablished, EventRouteRequest...), and the agent state they move: an ACD call
//! makes its agent Busy, its end AfterCallWork or Ready.

use std::time::Instant;

use cti::{AgentState, AgentWorkMode, Event};

use super::Desks;
use crate::event::DomainEvent;
use crate::NodeConfig;

impl Desks {
    /// Turns a domain event into the T-Library events desks see, and moves agent state.
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "a filter over domain events: the events not named do not concern this code"
    )]
    pub(crate) fn on_domain_event(&mut self, now: Instant, config: &NodeConfig, event: &DomainEvent) {
        self.translate(now, config, event);
        if self.agents.any_waiting_for_logout() {
            match event {
                DomainEvent::CallReleased { dn, caller_dn, .. } | DomainEvent::CallFailed { dn, caller_dn, .. } => {
                    self.call_ended(dn);
                    if let Some(c) = caller_dn {
                        self.call_ended(c);
                    }
                }
                DomainEvent::CallAbandoned { dn, .. } => self.call_ended(dn),
                DomainEvent::CallTransferred { from, .. } | DomainEvent::CallsMerged { by: from, .. } => {
                    self.call_ended(from)
                }
                DomainEvent::ConferenceLeft { gone, .. } => self.call_ended(gone),
                _ => {}
            }
        }
    }

    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "a filter over domain events: the events not named do not concern this code"
    )]
    fn translate(&mut self, now: Instant, config: &NodeConfig, event: &DomainEvent) {
        match event {
            DomainEvent::CallRinging { .. } | DomainEvent::CallEstablished { .. } => self.call_starts(now, event),
            DomainEvent::CallReleased { .. } | DomainEvent::CallAbandoned { .. } | DomainEvent::CallFailed { .. } => {
                self.call_ends(now, config, event)
            }
            DomainEvent::RouteRequest { .. }
            | DomainEvent::RouteUsed { .. }
            | DomainEvent::RouteFailed { .. }
            | DomainEvent::RemoteConnected { .. } => self.routing(now, config, event),
            DomainEvent::CallHeld { .. }
            | DomainEvent::CallRetrieved { .. }
            | DomainEvent::CallTransferred { .. }
            | DomainEvent::UserDataChanged { .. }
            | DomainEvent::CallsMerged { .. }
            | DomainEvent::Conferenced { .. }
            | DomainEvent::ConferenceLeft { .. }
            | DomainEvent::RecordingChanged { .. }
            | DomainEvent::RequestFailed { .. } => self.call_control(now, config, event),
            DomainEvent::DnOutOfService { dn } => self.broadcast(Event::EventDNOutOfService { this_dn: dn.clone() }),
            DomainEvent::DnBackInService { dn } => self.broadcast(Event::EventDNBackInService { this_dn: dn.clone() }),
            _ => {}
        }
    }

    /// A call rings or is answered: the parties' desks hear it; an ACD call makes its
    /// agent Busy.
    #[allow(clippy::wildcard_enum_match_arm, reason = "called for the events named in `translate` only")]
    fn call_starts(&mut self, now: Instant, event: &DomainEvent) {
        match event {
            DomainEvent::CallRinging {
                conn_id,
                dn,
                other,
                call_type,
                caller_dn,
                acd,
                user_data,
                transferred_by,
                ..
            } => {
                let conn = cti::conn_id_text(*conn_id);
                if let Some(caller) = caller_dn {
                    self.broadcast(Event::EventDialing {
                        reference_id: None,
                        this_dn: caller.clone(),
                        other_dn: dn.clone(),
                        conn_id: conn.clone(),
                        call_type: *call_type,
                    });
                }
                self.broadcast(Event::EventRinging {
                    this_dn: dn.clone(),
                    other_dn: other.clone(),
                    conn_id: conn,
                    call_type: *call_type,
                    user_data: user_data.clone(),
                    third_party_dn: transferred_by.clone(),
                });
                if *acd {
                    self.busy(now, dn);
                    self.reservation_used(dn);
                }
            }
            DomainEvent::CallEstablished { conn_id, dn, other, caller_dn } => {
                let conn = cti::conn_id_text(*conn_id);
                self.broadcast(Event::EventEstablished {
                    this_dn: dn.clone(),
                    other_dn: other.clone(),
                    conn_id: conn.clone(),
                });
                if let Some(caller) = caller_dn {
                    self.broadcast(Event::EventEstablished {
                        this_dn: caller.clone(),
                        other_dn: dn.clone(),
                        conn_id: conn,
                    });
                }
            }
            _ => {}
        }
    }

    /// A call ends or fails: the parties' desks hear it; an ACD call's agent goes to
    /// AfterCallWork or Ready.
    #[allow(clippy::wildcard_enum_match_arm, reason = "called for the events named in `translate` only")]
    fn call_ends(&mut self, now: Instant, config: &NodeConfig, event: &DomainEvent) {
        match event {
            DomainEvent::CallReleased { conn_id, dn, caller_dn, acd, .. } => {
                let conn = cti::conn_id_text(*conn_id);
                self.broadcast(Event::EventReleased { reference_id: None, this_dn: dn.clone(), conn_id: conn.clone() });
                if let Some(caller) = caller_dn {
                    self.broadcast(Event::EventReleased { reference_id: None, this_dn: caller.clone(), conn_id: conn });
                }
                if *acd {
                    self.after_call(now, config, dn);
                }
            }
            DomainEvent::CallAbandoned { conn_id, dn } => {
                self.broadcast(Event::EventAbandoned { this_dn: dn.clone(), conn_id: cti::conn_id_text(*conn_id) });
                self.unanswered(now, dn);
            }
            DomainEvent::CallFailed { conn_id, dn, caller_dn, .. } if *conn_id != 0 => {
                let conn = cti::conn_id_text(*conn_id);
                self.broadcast(Event::EventReleased { reference_id: None, this_dn: dn.clone(), conn_id: conn.clone() });
                // The calling agent's line is free again too (its desk saw EventDialing).
                if let Some(caller) = caller_dn.as_ref().filter(|c| *c != dn) {
                    self.broadcast(Event::EventReleased { reference_id: None, this_dn: caller.clone(), conn_id: conn });
                }
                self.unanswered(now, dn);
            }
            _ => {}
        }
    }

    /// Routing Points: a call asks for a route, a route was used or failed, a call
    /// routed to the DR peer connected there (ISCC).
    #[allow(clippy::wildcard_enum_match_arm, reason = "called for the events named in `translate` only")]
    fn routing(&mut self, now: Instant, config: &NodeConfig, event: &DomainEvent) {
        match event {
            DomainEvent::RouteRequest { conn_id, rp, other, call_type } => {
                self.broadcast(Event::EventRouteRequest {
                    this_dn: rp.clone(),
                    this_queue: rp.clone(),
                    other_dn: other.clone(),
                    conn_id: cti::conn_id_text(*conn_id),
                    call_type: *call_type,
                    server: config.site.clone(),
                });
            }
            DomainEvent::RouteUsed { conn_id, rp, target, call_type, reference_id, requester } => {
                let event = Event::EventRouteUsed {
                    reference_id: *reference_id,
                    this_dn: rp.clone(),
                    this_queue: rp.clone(),
                    other_dn: target.clone(),
                    conn_id: cti::conn_id_text(*conn_id),
                    call_type: *call_type,
                    default_routed: requester.is_none(),
                };
                self.answer_or_broadcast(*requester, event);
            }
            DomainEvent::RouteFailed { conn_id, rp, target, location, reference_id, requester, cause } => {
                let conn_id = cti::conn_id_text(*conn_id);
                match location {
                    Some(location) => self.answer_or_broadcast(
                        *requester,
                        Event::EventRemoteConnectionFailure {
                            reference_id: *reference_id,
                            this_dn: rp.clone(),
                            other_dn: target.clone(),
                            conn_id,
                            location: location.clone(),
                            cause: *cause,
                        },
                    ),
                    None => {
                        self.broadcast(Event::EventReleased { reference_id: None, this_dn: target.clone(), conn_id });
                        self.unanswered(now, target);
                    }
                }
            }
            DomainEvent::RemoteConnected { conn_id, rp, target, location, reference_id, requester } => {
                self.answer_or_broadcast(
                    *requester,
                    Event::EventRemoteConnectionSuccess {
                        reference_id: *reference_id,
                        this_dn: rp.clone(),
                        other_dn: target.clone(),
                        conn_id: cti::conn_id_text(*conn_id),
                        location: location.clone(),
                    },
                );
            }
            _ => {}
        }
    }

    /// Hold, retrieve, transfers, conferences, UserData and recording changes, as their
    /// T-Library events; a request that failed after it was taken, as EventError.
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "called for the call-control events only; the others are translated above"
    )]
    fn call_control(&mut self, now: Instant, config: &NodeConfig, event: &DomainEvent) {
        match event {
            DomainEvent::CallHeld { conn_id, dn, other, reference_id, requester } => {
                let (this_dn, other_dn, conn_id) = (dn.clone(), other.clone(), cti::conn_id_text(*conn_id));
                let event = Event::EventHeld { reference_id: *reference_id, this_dn, other_dn, conn_id };
                self.answer_or_broadcast(*requester, event);
            }
            DomainEvent::CallRetrieved { conn_id, dn, other, reference_id, requester } => {
                let (this_dn, other_dn, conn_id) = (dn.clone(), other.clone(), cti::conn_id_text(*conn_id));
                let event = Event::EventRetrieved { reference_id: *reference_id, this_dn, other_dn, conn_id };
                self.answer_or_broadcast(*requester, event);
            }
            DomainEvent::CallTransferred { .. } => self.transferred(now, config, event),
            DomainEvent::CallsMerged { .. } => self.merged(now, config, event),
            DomainEvent::Conferenced { .. } | DomainEvent::ConferenceLeft { .. } => self.conference(event),
            DomainEvent::RequestFailed { dn, code, text, reference_id, requester, .. } => {
                let this_dn = Some(dn.clone());
                let (error_code, error_message) = (*code, (*text).to_owned());
                let error = Event::EventError { reference_id: *reference_id, this_dn, error_code, error_message };
                self.answer_or_broadcast(*requester, error);
            }
            DomainEvent::RecordingChanged { conn_id, dn, service_id, reference_id, requester } => {
                let reasons = cti::KvList::from([("ConnID".to_owned(), cti::conn_id_text(*conn_id).into())]);
                let (service_id, this_dn, reasons) = (*service_id, Some(dn.clone()), Some(reasons));
                let event = Event::EventPrivateInfo { reference_id: *reference_id, service_id, this_dn, reasons };
                self.answer_or_broadcast(*requester, event);
            }
            DomainEvent::UserDataChanged { conn_id, dns, by, user_data, reference_id, requester } => {
                for dn in dns {
                    let event = Event::EventAttachedDataChanged {
                        reference_id: *reference_id,
                        this_dn: dn.clone(),
                        conn_id: cti::conn_id_text(*conn_id),
                        third_party_dn: by.clone(),
                        user_data: user_data.clone(),
                    };
                    self.answer_or_broadcast(requester.filter(|_| dn == by), event);
                }
            }
            _ => {}
        }
    }

    /// A single-step transfer or a redirection: the DN that left hears EventReleased (its
    /// ACD agent goes to AfterCallWork, or Ready if it never answered); a caller of this
    /// site hears EventPartyChanged.
    fn transferred(&mut self, now: Instant, config: &NodeConfig, event: &DomainEvent) {
        let DomainEvent::CallTransferred {
            conn_id, from, to, caller_dn, answered, acd, reference_id, requester, ..
        } = event
        else {
            return;
        };

        let conn = cti::conn_id_text(*conn_id);
        let released =
            Event::EventReleased { reference_id: *reference_id, this_dn: from.clone(), conn_id: conn.clone() };
        self.answer_or_broadcast(*requester, released);
        match (*acd, *answered) {
            (true, true) => self.after_call(now, config, from),
            (true, false) => self.unanswered(now, from),
            (false, _) => {}
        }
        if let Some(caller) = caller_dn.as_ref().filter(|_| *answered) {
            self.broadcast(Event::EventPartyChanged {
                this_dn: caller.clone(),
                other_dn: to.clone(),
                conn_id: conn,
                previous_conn_id: None,
                third_party_dn: from.clone(),
                call_state: "Transferred".into(),
            });
        }
    }

    /// A completed two-step transfer: the transferring DN leaves both calls; the consulted
    /// party hears EventPartyChanged naming the consultation it came from.
    fn merged(&mut self, now: Instant, config: &NodeConfig, event: &DomainEvent) {
        let DomainEvent::CallsMerged { kept, gone, by, to, other, acd, reference_id, requester, .. } = event else {
            return;
        };

        let (kept, gone) = (cti::conn_id_text(*kept), cti::conn_id_text(*gone));
        let this_dn = by.clone();
        self.broadcast(Event::EventReleased { reference_id: None, this_dn, conn_id: gone.clone() });
        let released = Event::EventReleased { reference_id: *reference_id, this_dn: by.clone(), conn_id: kept.clone() };
        self.answer_or_broadcast(*requester, released);
        if *acd {
            self.after_call(now, config, by);
        }
        self.broadcast(Event::EventPartyChanged {
            this_dn: to.clone(),
            other_dn: other.clone(),
            conn_id: kept,
            previous_conn_id: Some(gone),
            third_party_dn: by.clone(),
            call_state: "Transferred".into(),
        });
    }

    /// A conference made, or a party gone from one, as the reference's events: the
    /// conferencing DN hears its consultation released and the party added, the added
    /// party its call changed (Conferenced), the caller's DN (when local) the party added;
    /// a party that leaves hears EventReleased, the others EventPartyDeleted.
    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "called for the conference events only; the others are translated above"
    )]
    fn conference(&mut self, event: &DomainEvent) {
        match event {
            DomainEvent::Conferenced { kept, gone, by, added, other, other_dn, reference_id, requester } => {
                let (kept, gone) = (cti::conn_id_text(*kept), cti::conn_id_text(*gone));
                self.broadcast(Event::EventReleased { reference_id: None, this_dn: by.clone(), conn_id: gone.clone() });
                let third_party_dn = added.clone();
                let to_by = Event::EventPartyAdded {
                    reference_id: *reference_id,
                    this_dn: by.clone(),
                    conn_id: kept.clone(),
                    third_party_dn: third_party_dn.clone(),
                };
                self.answer_or_broadcast(*requester, to_by);
                self.broadcast(Event::EventPartyChanged {
                    this_dn: added.clone(),
                    other_dn: other.clone(),
                    conn_id: kept.clone(),
                    previous_conn_id: Some(gone),
                    third_party_dn: by.clone(),
                    call_state: "Conferenced".into(),
                });
                if let Some(caller) = other_dn {
                    let this_dn = caller.clone();
                    self.broadcast(Event::EventPartyAdded {
                        reference_id: None,
                        this_dn,
                        conn_id: kept,
                        third_party_dn,
                    });
                }
            }
            DomainEvent::ConferenceLeft { conn_id, gone, stays, reference_id, requester } => {
                let conn_id = cti::conn_id_text(*conn_id);
                let released =
                    Event::EventReleased { reference_id: None, this_dn: gone.clone(), conn_id: conn_id.clone() };
                self.broadcast(released);
                for dn in stays {
                    let deleted = Event::EventPartyDeleted {
                        reference_id: *reference_id,
                        this_dn: dn.clone(),
                        conn_id: conn_id.clone(),
                        third_party_dn: gone.clone(),
                    };
                    self.answer_or_broadcast(*requester, deleted);
                }
            }
            _ => {}
        }
    }

    fn busy(&mut self, now: Instant, dn: &str) {
        self.agents.make_busy(now, dn);
    }

    /// A routed call rang the agent on `dn` and was not answered: Ready again (no
    /// AfterCallWork for a call never taken; the router decides about repeated misses).
    fn unanswered(&mut self, now: Instant, dn: &str) {
        let Some((agent_id, agent)) = self.agents.at(dn) else { return };
        if agent.state != AgentState::Busy {
            return;
        }
        let agent_id = agent_id.to_owned();
        self.back_to_ready(now, agent_id, dn);
    }

    /// The agent is Ready again on its own (ManualIn), and its desks hear of it.
    fn back_to_ready(&mut self, now: Instant, agent_id: String, dn: &str) {
        self.set_state(now, &agent_id, AgentState::Ready, AgentWorkMode::ManualIn, None);
        self.broadcast(Event::EventAgentReady {
            reference_id: None,
            this_dn: dn.to_owned(),
            agent_id,
            work_mode: AgentWorkMode::ManualIn,
        });
    }

    /// After an ACD call: AfterCallWork for `wrap-up-time`, or straight back to Ready.
    fn after_call(&mut self, now: Instant, config: &NodeConfig, dn: &str) {
        let Some((agent_id, agent)) = self.agents.at(dn) else { return };
        if agent.state != AgentState::Busy {
            return;
        }
        let agent_id = agent_id.to_owned();
        let wrap = config.options.wrap_up_time;
        if wrap.is_zero() {
            self.back_to_ready(now, agent_id, dn);
        } else {
            self.set_state(now, &agent_id, AgentState::AfterCallWork, AgentWorkMode::AfterCallWork, Some(now + wrap));
            let event = Event::EventAgentNotReady {
                reference_id: None,
                this_dn: dn.to_owned(),
                agent_id,
                work_mode: AgentWorkMode::AfterCallWork,
                reasons: None,
            };
            self.broadcast(event);
        }
    }
}
