//! The registrar (RFC 3261 section 10.3): bindings per DN, refresh, removal, expiry.
//!
//! Storage and protocol are apart: [`Bindings`] is the location store (the usrloc of
//! Kamailio); [`Registrar::register`] turns one REGISTER into store updates and a
//! [`RegisterReply`]. Contact URIs are compared as written (RFC 3261 URI equality is
//! left for when a phone needs it).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use sipcore::Peer;
use sipmsg::{Contact, Message};

use crate::config::RegistrarConfig;
use crate::dn_plan::DnPlan;
use crate::DomainEvent;
use crate::Status;

/// One contact bound to a DN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Contact URI as the phone wrote it.
    pub contact: String,
    /// When it lapses.
    pub expires_at: Instant,
    /// Call-ID of the REGISTER that last refreshed it.
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// q-value in thousandths.
    pub q: u16,
    /// Where the REGISTER came from.
    pub source: Peer,
    /// Where requests for this contact are sent: the Contact's IP address and port for
    /// UDP, the registering connection for TCP (connection reuse, as RFC 5626 does), and
    /// the source address when the Contact names a host we would have to resolve.
    pub target: Peer,
    /// Its entry in the expiry index (one per binding, replaced on refresh).
    expiry_key: (Instant, u64),
}

/// Where to send requests for `contact`, registered from `source`.
pub(crate) fn contact_target(contact: &str, source: Peer) -> Peer {
    let Some(sipmsg::Uri::Sip(uri)) = sipmsg::Uri::parse(contact) else { return source };
    if source.transport.is_reliable()
        || uri.params.get("transport").flatten().is_some_and(|t| !t.eq_ignore_ascii_case("udp"))
    {
        return source;
    }
    let host = uri.host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => Peer::udp(std::net::SocketAddr::new(ip, uri.port.unwrap_or(5060))),
        Err(_) => source,
    }
}

/// The outcome of a REGISTER, mapped to a response in one place ([`RegisterReply::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterReply {
    /// 200 with the DN's current bindings.
    Ok(Vec<(String, Duration)>),
    /// 404: the DN is not provisioned at this site.
    UnknownDn,
    /// 416: To is not a SIP URI.
    UnsupportedScheme,
    /// 423 with Min-Expires.
    IntervalTooBrief(Duration),
    /// 400: malformed Contact, or `*` with other contacts or a non-zero expiry.
    BadContact,
    /// 403: the DN would exceed `max_contacts`.
    TooManyContacts,
    /// 500: an older (or repeated) CSeq for the same Call-ID (RFC 3261 section 10.3 step 7).
    OutOfOrder,
    /// 503: the site holds `max-bindings` already (refreshes still pass).
    Full,
}

impl RegisterReply {
    /// The answer on the wire.
    pub fn status(&self) -> Status {
        match self {
            Self::Ok(_) => Status::Ok,
            Self::UnknownDn => Status::NotFound,
            Self::UnsupportedScheme => Status::UnsupportedUriScheme,
            Self::IntervalTooBrief(_) => Status::IntervalTooBrief,
            Self::BadContact => Status::MalformedContact,
            Self::TooManyContacts => Status::TooManyContacts,
            Self::OutOfOrder => Status::CSeqOutOfOrder,
            Self::Full => Status::RegistrarFull,
        }
    }
}

/// Bindings of every DN and their expiry index.
#[derive(Debug, Default)]
pub(crate) struct Bindings {
    by_dn: HashMap<String, Vec<Binding>>,
    expiry: BTreeMap<(Instant, u64), (String, String)>,
    seq: u64,
    count: u64,
}

impl Bindings {
    pub(crate) fn of(&self, dn: &str) -> &[Binding] {
        self.by_dn.get(dn).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    pub(crate) fn dns(&self) -> u64 {
        self.by_dn.len() as u64
    }

    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.expiry.first_key_value().map(|(&(at, _), _)| at)
    }

    /// Index entries: one per binding.
    pub(crate) fn expiry_entries(&self) -> usize {
        self.expiry.len()
    }

    fn upsert(&mut self, dn: &str, mut binding: Binding) {
        self.seq += 1;
        binding.expiry_key = (binding.expires_at, self.seq);
        self.expiry.insert(binding.expiry_key, (dn.to_owned(), binding.contact.clone()));
        let list = self.by_dn.entry(dn.to_owned()).or_default();
        match list.iter_mut().find(|b| b.contact == binding.contact) {
            Some(existing) => {
                self.expiry.remove(&existing.expiry_key);
                *existing = binding;
            }
            None => {
                list.push(binding);
                self.count += 1;
            }
        }
    }

    fn remove(&mut self, dn: &str, contact: &str) -> bool {
        let Some(list) = self.by_dn.get_mut(dn) else {
            return false;
        };
        let Some(at) = list.iter().position(|b| b.contact == contact) else {
            return false;
        };
        let gone = list.remove(at);
        self.expiry.remove(&gone.expiry_key);
        self.count -= 1;
        if list.is_empty() {
            self.by_dn.remove(dn);
        }
        true
    }

    /// Keeps only the bindings of DNs `keep` accepts; returns how many were removed.
    pub(crate) fn retain_dns(&mut self, keep: impl Fn(&str) -> bool, events: &mut Vec<DomainEvent>) -> usize {
        #[allow(clippy::disallowed_methods)] // sorted at once: the Unregistered events go out in DN order
        let mut gone: Vec<String> = self.by_dn.keys().filter(|dn| !keep(dn)).cloned().collect();
        gone.sort_unstable();
        let mut removed = 0;
        for dn in gone {
            for b in self.by_dn.remove(&dn).unwrap_or_default() {
                self.expiry.remove(&b.expiry_key);
                self.count -= 1;
                removed += 1;
                events.push(DomainEvent::Unregistered { dn: dn.clone(), contact: b.contact });
            }
        }
        removed
    }

    /// Removes bindings that lapsed at or before `now`.
    pub(crate) fn expire(&mut self, now: Instant, events: &mut Vec<DomainEvent>) {
        while let Some(entry) = self.expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (dn, contact) = entry.remove();
            if self.remove(&dn, &contact) {
                events.push(DomainEvent::BindingExpired { dn, contact });
            }
        }
    }
}

/// Turns REGISTER requests into binding changes.
#[derive(Debug)]
pub(crate) struct Registrar {
    pub(crate) config: RegistrarConfig,
    pub(crate) bindings: Bindings,
}

/// Where a REGISTER came from: its Call-ID and CSeq (RFC 3261 section 10.3 step 7
/// orders requests of one Call-ID) and its source.
struct Origin<'a> {
    call_id: &'a str,
    cseq: u32,
    source: Peer,
}

struct Wanted {
    contact: String,
    expires: Duration,
    q: u16,
}

impl Registrar {
    pub(crate) fn new(config: RegistrarConfig) -> Self {
        Self { config, bindings: Bindings::default() }
    }

    pub(crate) fn register(
        &mut self,
        now: Instant,
        plan: &DnPlan,
        req: &Message<'_>,
        source: Peer,
        events: &mut Vec<DomainEvent>,
    ) -> RegisterReply {
        let Some(to) = req.to() else {
            return RegisterReply::BadContact;
        };
        let Some(aor) = to.uri.as_sip() else {
            return RegisterReply::UnsupportedScheme;
        };
        let dn = aor.user.unwrap_or("");
        if !plan.contains(dn) {
            return RegisterReply::UnknownDn;
        }
        let (call_id, cseq) = (req.call_id().unwrap_or(""), req.cseq().map_or(0, |c| c.seq));
        let wanted = match self.wanted(req) {
            Ok(w) => w,
            Err(reply) => return reply,
        };
        if let Some(wanted) = wanted {
            if let Err(reply) = self.apply(now, dn, wanted, Origin { call_id, cseq, source }, events) {
                return reply;
            }
        } else if self.is_star(req) {
            self.remove_all(dn, call_id, cseq, events);
        }
        RegisterReply::Ok(self.current(now, dn))
    }

    /// Puts back a binding saved before a restart, within the same limits as a REGISTER.
    /// Returns false when it does not fit.
    pub(crate) fn restore(&mut self, now: Instant, saved: &crate::saved::SavedBinding) -> bool {
        let existing = self.bindings.of(&saved.dn);
        let known = existing.iter().any(|b| b.contact == saved.contact);
        if !known
            && (existing.len() >= self.config.max_contacts
                || self.bindings.count() as usize >= self.config.max_bindings)
        {
            return false;
        }
        let expires = saved.expires_in.min(self.config.max_expires);
        let binding = Binding {
            contact: saved.contact.clone(),
            expires_at: now + expires,
            call_id: saved.call_id.clone(),
            cseq: saved.cseq,
            q: saved.q,
            source: saved.source,
            target: contact_target(&saved.contact, saved.source),
            expiry_key: (now, 0),
        };
        self.bindings.upsert(&saved.dn, binding);
        true
    }

    fn is_star(&self, req: &Message<'_>) -> bool {
        req.contacts().any(|c| c == Some(Contact::Star))
    }

    /// The contacts a REGISTER asks for, `None` for a query or `*`.
    fn wanted(&self, req: &Message<'_>) -> Result<Option<Vec<Wanted>>, RegisterReply> {
        let contacts: Vec<Option<Contact<'_>>> = req.contacts().collect();
        if contacts.is_empty() {
            return Ok(None);
        }
        if contacts.contains(&Some(Contact::Star)) {
            return if contacts.len() == 1 && req.expires() == Some(0) {
                Ok(None)
            } else {
                Err(RegisterReply::BadContact)
            };
        }
        let default = req.expires().map_or(self.config.default_expires, |s| Duration::from_secs(s.into()));
        let mut wanted = Vec::with_capacity(contacts.len());
        for contact in contacts {
            let Some(c @ Contact::Address(addr)) = contact else {
                return Err(RegisterReply::BadContact);
            };
            let expires = c.expires().map_or(default, |s| Duration::from_secs(s.into()));
            if !expires.is_zero() && expires < self.config.min_expires {
                return Err(RegisterReply::IntervalTooBrief(self.config.min_expires));
            }
            wanted.push(Wanted {
                contact: addr.uri_text.to_owned(),
                expires: expires.min(self.config.max_expires),
                q: c.q(),
            });
        }
        Ok(Some(wanted))
    }

    /// Applies the contacts a REGISTER from `origin` wants for `dn` (all or none).
    fn apply(
        &mut self,
        now: Instant,
        dn: &str,
        wanted: Vec<Wanted>,
        origin: Origin<'_>,
        events: &mut Vec<DomainEvent>,
    ) -> Result<(), RegisterReply> {
        let Origin { call_id, cseq, source } = origin;
        let existing = self.bindings.of(dn);
        if wanted
            .iter()
            .any(|w| existing.iter().any(|b| b.contact == w.contact && b.call_id == call_id && b.cseq >= cseq))
        {
            return Err(RegisterReply::OutOfOrder);
        }
        let new =
            wanted.iter().filter(|w| !w.expires.is_zero() && !existing.iter().any(|b| b.contact == w.contact)).count();
        if existing.len() + new > self.config.max_contacts {
            return Err(RegisterReply::TooManyContacts);
        }
        if new > 0 && self.bindings.count() as usize + new > self.config.max_bindings {
            return Err(RegisterReply::Full);
        }
        for w in wanted {
            if w.expires.is_zero() {
                if self.bindings.remove(dn, &w.contact) {
                    events.push(DomainEvent::Unregistered { dn: dn.to_owned(), contact: w.contact });
                }
                continue;
            }
            events.push(DomainEvent::Registered {
                dn: dn.to_owned(),
                contact: w.contact.clone(),
                expires: w.expires,
                source,
                call_id: call_id.to_owned(),
                cseq,
                q: w.q,
            });
            let target = contact_target(&w.contact, source);
            let binding = Binding {
                contact: w.contact,
                expires_at: now + w.expires,
                call_id: call_id.to_owned(),
                cseq,
                q: w.q,
                source,
                target,
                expiry_key: (now, 0),
            };
            self.bindings.upsert(dn, binding);
        }
        Ok(())
    }

    fn remove_all(&mut self, dn: &str, _call_id: &str, _cseq: u32, events: &mut Vec<DomainEvent>) {
        let contacts: Vec<String> = self.bindings.of(dn).iter().map(|b| b.contact.clone()).collect();
        for contact in contacts {
            self.bindings.remove(dn, &contact);
            events.push(DomainEvent::Unregistered { dn: dn.to_owned(), contact });
        }
    }

    fn current(&self, now: Instant, dn: &str) -> Vec<(String, Duration)> {
        self.bindings.of(dn).iter().map(|b| (b.contact.clone(), b.expires_at.saturating_duration_since(now))).collect()
    }
}
