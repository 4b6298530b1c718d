//! One side of a B2BUA call: a SIP dialog (RFC 3261 section 12) and the INVITE that
//! created it.

use std::sync::Arc;

use sipcore::{Peer, TxKey};
use sipmsg::{HeaderName, Message};

/// Where a dialog stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LegState {
    /// INVITE sent or received, no final response yet.
    Early,
    /// A 2xx was exchanged.
    Confirmed,
    /// Failed, cancelled or hung up.
    Ended,
}

/// One dialog of a call. For the A-leg we are the UAS, for B-legs the UAC.
#[derive(Debug, Clone)]
pub(crate) struct Leg {
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    pub(crate) remote_tag: Option<String>,
    /// Our party's header value, without tag (From on B-legs, To on the A-leg).
    pub(crate) local_uri: String,
    /// The other party's header value, without tag.
    pub(crate) remote_uri: String,
    /// Request-URI for requests we send inside the dialog.
    pub(crate) remote_target: String,
    /// Route headers for requests we send inside the dialog.
    pub(crate) route_set: Vec<String>,
    pub(crate) local_cseq: u32,
    pub(crate) peer: Peer,
    pub(crate) state: LegState,
    /// The Request-URI of the INVITE that created this leg (CANCEL reuses it).
    pub(crate) request_uri: String,
    /// The INVITE that created this leg (received for A, sent for B). Only a received
    /// INVITE is ever parsed again; requests about legs we started (CANCEL, ACK, BYE) are
    /// built from the fields above, so nothing we built has to parse.
    pub(crate) invite: Arc<[u8]>,
    /// Its transaction.
    pub(crate) invite_tx: TxKey,
    /// B-legs: a provisional response arrived, so a CANCEL may be sent (RFC 3261
    /// section 9.1: not before)...
    pub(crate) heard: bool,
    /// ... and one is owed as soon as it does (the call no longer wants this leg).
    pub(crate) cancel_due: bool,
    /// B-legs: our ACK for the 2xx, resent when the 2xx is retransmitted.
    pub(crate) ack: Option<Arc<[u8]>>,
    /// The session description this leg's party sent last (offer or answer).
    pub(crate) sdp: Option<Arc<[u8]>>,
    /// With media anchored: this leg's description as the partner rewrote it for the
    /// other party (what the other party was sent of it last).
    pub(crate) seen: Option<Arc<[u8]>>,
    /// Set once Tandem wrote a session description on this leg itself (hold, retrieve,
    /// transfer): the `o=` version it sent last. From then on every description sent on
    /// the leg carries a higher one (RFC 3264 section 8).
    pub(crate) sdp_version: Option<u64>,
    /// A re-INVITE (ours or relayed) on this leg awaits its final response: another
    /// would cross it (RFC 3261 section 14.1, 491).
    pub(crate) reinvite_out: bool,
    /// B-legs: the 2xx offered (the caller's INVITE had no description, a late offer):
    /// our ACK must carry the answer, so it waits for the caller's ACK (RFC 3261 section
    /// 13.2.2.4).
    pub(crate) ack_awaits_answer: bool,
}

/// A dialog Tandem starts with an INVITE it sent, as [`Leg::outgoing`] takes it.
pub(crate) struct Outgoing {
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    /// Our From (without its tag) and the To we sent.
    pub(crate) local_uri: String,
    pub(crate) remote_uri: String,
    /// The Request-URI, which is the remote target until the answer's Contact.
    pub(crate) target: String,
    pub(crate) peer: Peer,
    pub(crate) invite: Arc<[u8]>,
    pub(crate) invite_tx: TxKey,
}

impl Leg {
    /// A leg we started with an INVITE (a callee's, or a third-party call's origin phone):
    /// early, no answer heard yet.
    pub(crate) fn outgoing(o: Outgoing) -> Self {
        Self {
            call_id: o.call_id,
            local_tag: o.local_tag,
            remote_tag: None,
            local_uri: o.local_uri,
            remote_uri: o.remote_uri,
            request_uri: o.target.clone(),
            remote_target: o.target,
            route_set: Vec::new(),
            local_cseq: 1,
            peer: o.peer,
            state: LegState::Early,
            invite: o.invite,
            invite_tx: o.invite_tx,
            ack: None,
            heard: false,
            cancel_due: false,
            sdp: None,
            seen: None,
            sdp_version: None,
            reinvite_out: false,
            ack_awaits_answer: false,
        }
    }

    /// The A-leg, from the INVITE we received. `local_tag` is the To tag we answer with.
    pub(crate) fn from_incoming(
        invite: &Message<'_>,
        bytes: Arc<[u8]>,
        tx: TxKey,
        peer: Peer,
        local_tag: String,
    ) -> Option<Self> {
        let from = invite.from()?;
        let to_value = invite.header(HeaderName::To)?;
        let contact = invite.contacts().next().flatten();
        let remote_target = match contact {
            Some(sipmsg::Contact::Address(a)) => a.uri_text.to_owned(),
            _ => from.uri_text.to_owned(),
        };
        Some(Self {
            call_id: invite.call_id()?.to_owned(),
            local_tag,
            remote_tag: from.tag().map(str::to_owned),
            local_uri: strip_tag(to_value),
            remote_uri: strip_tag(invite.header(HeaderName::From)?),
            remote_target,
            request_uri: invite.request_uri()?.to_owned(),
            route_set: invite.values(HeaderName::RecordRoute).map(str::to_owned).collect(),
            local_cseq: 0,
            peer,
            state: LegState::Early,
            invite: bytes,
            invite_tx: tx,
            ack: None,
            heard: false,
            cancel_due: false,
            sdp: sdp_of(invite),
            seen: None,
            sdp_version: None,
            reinvite_out: false,
            ack_awaits_answer: false,
        })
    }

    /// Notes the session description of a message this leg's party sent, if it has one.
    pub(crate) fn heard_sdp(&mut self, message: &Message<'_>) {
        if let Some(sdp) = sdp_of(message) {
            self.sdp = Some(sdp);
        }
    }

    /// The `o=` version for the next description Tandem writes on this leg, whose party
    /// last got `sent` from us.
    /// The description to show the other party of this leg: the anchored one when the
    /// media partner rewrote it, else the party's own.
    pub(crate) fn sdp_for_other(&self) -> Option<Arc<[u8]>> {
        self.seen.clone().or_else(|| self.sdp.clone())
    }

    pub(crate) fn next_sdp_version(&mut self, sent: &[u8]) -> u64 {
        let next = crate::sdp::version(sent).unwrap_or(0).max(self.sdp_version.unwrap_or(0)) + 1;
        self.sdp_version = Some(next);
        next
    }

    /// A description relayed onto this leg, with its version raised above the last one
    /// Tandem wrote here (unchanged when Tandem never wrote one).
    pub(crate) fn relayed_sdp(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        let own = self.sdp_version?;
        let next = crate::sdp::version(body)?.max(own) + 1;
        self.sdp_version = Some(next);
        crate::sdp::with_new_version(body, next)
    }

    /// The From or To header value for our side, with our tag.
    pub(crate) fn local_with_tag(&self) -> String {
        format!("{};tag={}", self.local_uri, self.local_tag)
    }

    /// The other side's header value, with its tag once known.
    pub(crate) fn remote_with_tag(&self) -> String {
        match &self.remote_tag {
            Some(tag) => format!("{};tag={tag}", self.remote_uri),
            None => self.remote_uri.clone(),
        }
    }

    /// Learns the remote tag, target and route set from a response that establishes
    /// the dialog (RFC 3261 section 12.1.2).
    pub(crate) fn learn_from_response(&mut self, response: &Message<'_>) {
        if let Some(tag) = response.to().and_then(|t| t.tag()) {
            self.remote_tag = Some(tag.to_owned());
        }
        if let Some(Some(sipmsg::Contact::Address(a))) = response.contacts().next() {
            self.remote_target = a.uri_text.to_owned();
        }
        let mut routes: Vec<String> = response.values(HeaderName::RecordRoute).map(str::to_owned).collect();
        routes.reverse();
        if !routes.is_empty() {
            self.route_set = routes;
        }
    }

    /// A 2xx to a re-INVITE refreshes the remote target (RFC 3261 section 12.2.1.2).
    pub(crate) fn learn_target(&mut self, response: &Message<'_>) {
        if let Some(Some(sipmsg::Contact::Address(a))) = response.contacts().next() {
            self.remote_target = a.uri_text.to_owned();
        }
    }

    pub(crate) fn next_cseq(&mut self) -> u32 {
        self.local_cseq += 1;
        self.local_cseq
    }
}

/// The body of `message` when it is a session description.
pub(crate) fn sdp_of(message: &Message<'_>) -> Option<Arc<[u8]>> {
    // Checked without allocating: this runs for every INVITE and every relayed answer.
    let is_sdp = |ct: &str| ct.trim().get(..15).is_some_and(|t| t.eq_ignore_ascii_case("application/sdp"));
    let sdp = message.header(HeaderName::ContentType).is_some_and(is_sdp);
    (sdp && !message.body().is_empty()).then(|| Arc::from(message.body()))
}

/// A header value without its `;tag=` parameter.
pub(crate) fn strip_tag(value: &str) -> String {
    let lower = value.to_ascii_lowercase();
    match lower.find(";tag=") {
        Some(at) => {
            let rest = &value[at + 5..];
            let end = rest.find(';').map_or(value.len(), |e| at + 5 + e);
            format!("{}{}", &value[..at], &value[end..]).trim().to_owned()
        }
        None => value.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_tag_keeps_other_params() {
        assert_eq!(strip_tag("<sip:a@b>;tag=x;foo=1"), "<sip:a@b>;foo=1");
        assert_eq!(strip_tag("<sip:a@b>;tag=x"), "<sip:a@b>");
        assert_eq!(strip_tag("sip:a@b"), "sip:a@b");
    }
}
