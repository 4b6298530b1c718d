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
}

impl Leg {
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
        })
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

    pub(crate) fn next_cseq(&mut self) -> u32 {
        self.local_cseq += 1;
        self.local_cseq
    }
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
