//! Building the requests and responses the B2BUA sends.

use std::net::SocketAddr;

use sipcore::Transport;
use sipmsg::{HeaderName, Message, MessageBuilder, Method};

use super::leg::Leg;

/// Our own address as peers should see it in Via and Contact.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Local {
    pub(crate) addr: SocketAddr,
    /// The SIP over TLS listener, if any: what a TLS peer must come back to.
    pub(crate) tls: Option<SocketAddr>,
}

impl Local {
    /// Our Contact for a peer on `transport`. Over TLS it is a `sips:` URI at the TLS
    /// listener (RFC 5630 section 3.1.3: not `transport=tls`), so the phone's in-dialog
    /// requests come back over TLS.
    pub(crate) fn contact(&self, transport: Transport) -> String {
        match transport {
            Transport::Udp => format!("<sip:tandem@{}>", self.addr),
            Transport::Tcp => format!("<sip:tandem@{};transport=tcp>", self.addr),
            Transport::Tls => format!("<sips:tandem@{}>", self.addr_for(transport)),
        }
    }

    /// The address we are at on `transport`.
    fn addr_for(&self, transport: Transport) -> SocketAddr {
        match (transport, self.tls) {
            (Transport::Tls, Some(tls)) => tls,
            _ => self.addr,
        }
    }

    fn via(&self, b: &mut MessageBuilder, transport: Transport, branch: &str) {
        let at = self.addr_for(transport);
        b.header_fmt("Via", format_args!("SIP/2.0/{} {at};branch={branch};rport", transport.as_str()));
    }
}

/// Parts of a new B-leg INVITE.
pub(crate) struct NewInvite<'a> {
    pub(crate) target: &'a str,
    pub(crate) from: &'a str,
    pub(crate) to: &'a str,
    pub(crate) call_id: &'a str,
    pub(crate) branch: &'a str,
    pub(crate) max_forwards: u8,
    pub(crate) uuid: &'a str,
    pub(crate) transport: Transport,
    /// The call's attached data as JSON, sent to the DR peer only.
    pub(crate) user_data: Option<&'a str>,
    /// What only the DR peer is told: the call's ConnID and, for a routed call, its
    /// Routing Point (the call is an ACD call there too).
    pub(crate) to_peer: Option<PeerFacts<'a>>,
    /// `X-Tandem-Seal` for an INVITE to the DR peer (with `peer_secret`).
    pub(crate) seal: Option<&'a str>,
    /// The session description to offer, when not the body of the message the INVITE is
    /// built from (a call offered anew after a transfer offers the caller's latest).
    pub(crate) sdp: Option<&'a [u8]>,
}

/// Call facts carried to the DR peer (ISCC: the ConnID travels with the call, BC-34).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerFacts<'a> {
    pub(crate) conn_id: u64,
    pub(crate) routed_from: Option<&'a str>,
    /// The offer is this site's media partner's: the peer must not anchor it again.
    pub(crate) anchored: bool,
}

/// Header telling the DR peer that the call's media is anchored at this site already
/// (`anchored`): anchored once, not twice. Believed only on an INVITE the peer sent.
pub(crate) const MEDIA_HEADER: &str = "X-Tandem-Media";

/// Header carrying the call's ConnID over the DR peer trunk.
pub(crate) const CONN_ID_HEADER: &str = "X-Tandem-ConnID";
/// Header naming the Routing Point a call was routed from (over the DR peer trunk).
pub(crate) const ROUTED_FROM_HEADER: &str = "X-Tandem-Routed-From";

/// Header carrying a call's UserData (a JSON object) over the DR peer trunk.
pub(crate) const USER_DATA_HEADER: &str = "X-Tandem-UserData";

/// An INVITE towards a callee, carrying the caller's SDP untouched (the body of `a`, which
/// is the caller's INVITE, or for third-party calls the origin phone's 200).
pub(crate) fn b_invite(local: &Local, a: &Message<'_>, n: &NewInvite<'_>) -> Vec<u8> {
    match n.sdp {
        Some(sdp) => invite_head(local, n).finish(Some("application/sdp"), sdp),
        None => copy_body(invite_head(local, n), a),
    }
}

/// An INVITE's start line and headers, without a body.
fn invite_head(local: &Local, n: &NewInvite<'_>) -> MessageBuilder {
    let mut b = MessageBuilder::request(Method::Invite, n.target);
    local.via(&mut b, n.transport, n.branch);
    b.header_fmt("Max-Forwards", format_args!("{}", n.max_forwards));
    b.header(HeaderName::From.as_str(), n.from);
    b.header(HeaderName::To.as_str(), n.to);
    b.header("Call-ID", n.call_id);
    b.header("CSeq", "1 INVITE");
    b.header("Contact", &local.contact(n.transport));
    b.header("X-Genesys-CallUUID", n.uuid);
    if let Some(json) = n.user_data {
        b.header(USER_DATA_HEADER, json);
    }
    if let Some(facts) = n.to_peer {
        b.header(CONN_ID_HEADER, &cti::conn_id_text(facts.conn_id));
        if let Some(rp) = facts.routed_from {
            b.header(ROUTED_FROM_HEADER, rp);
        }
        if facts.anchored {
            b.header(MEDIA_HEADER, "anchored");
        }
    }
    if let Some(seal) = n.seal {
        b.header(crate::peer_seal::SEAL_HEADER, seal);
    }
    b.header("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO");
    b
}

/// An INVITE without a session description (third-party call control, RFC 3725 flow I:
/// the origin phone makes the offer in its 200).
pub(crate) fn offerless_invite(local: &Local, n: &NewInvite<'_>) -> Vec<u8> {
    invite_head(local, n).finish(None, b"")
}

/// A request inside `leg`'s dialog (BYE, re-INVITE, UPDATE, INFO, ACK).
pub(crate) fn in_dialog(
    local: &Local,
    leg: &Leg,
    method: Method<'_>,
    cseq: u32,
    branch: &str,
    body_from: Option<&Message<'_>>,
) -> Vec<u8> {
    let b = in_dialog_head(local, leg, method, cseq, branch);
    match body_from {
        Some(m) => copy_body(b, m),
        None => b.finish(None, b""),
    }
}

/// A request inside `leg`'s dialog, with the body `sdp` in place of the relayed one's
/// (a description whose version Tandem raised, [`Leg::relayed_sdp`]).
pub(crate) fn in_dialog_with(
    local: &Local,
    leg: &Leg,
    (method, cseq, branch): (Method<'_>, u32, &str),
    relayed: &Message<'_>,
    sdp: Option<&[u8]>,
) -> Vec<u8> {
    match sdp {
        Some(sdp) => {
            in_dialog_head(local, leg, method, cseq, branch).finish(relayed.header(HeaderName::ContentType), sdp)
        }
        None => in_dialog(local, leg, method, cseq, branch, Some(relayed)),
    }
}

/// The start line and headers of a request inside `leg`'s dialog.
fn in_dialog_head(local: &Local, leg: &Leg, method: Method<'_>, cseq: u32, branch: &str) -> MessageBuilder {
    let mut b = MessageBuilder::request(method, &leg.remote_target);
    local.via(&mut b, leg.peer.transport, branch);
    b.header("Max-Forwards", "70");
    b.header("From", &leg.local_with_tag());
    b.header("To", &leg.remote_with_tag());
    b.header("Call-ID", &leg.call_id);
    b.header_fmt("CSeq", format_args!("{cseq} {method}"));
    for route in &leg.route_set {
        b.header("Route", route);
    }
    if matches!(method, Method::Invite | Method::Update) {
        b.header("Contact", &local.contact(leg.peer.transport));
    }
    b
}

/// BYE inside `leg`'s dialog with `Reason: SIP ;cause=<code> ;text="<reason>"` (RFC 3326).
pub(crate) fn bye_with_reason(
    local: &Local,
    leg: &Leg,
    cseq: u32,
    branch: &str,
    (code, reason): (u16, &str),
) -> Vec<u8> {
    let mut b = in_dialog_head(local, leg, Method::Bye, cseq, branch);
    b.header_fmt("Reason", format_args!("SIP ;cause={code} ;text=\"{reason}\""));
    b.finish(None, b"")
}

/// A re-INVITE inside `leg`'s dialog carrying a session description Tandem wrote.
pub(crate) fn in_dialog_sdp(local: &Local, leg: &Leg, cseq: u32, branch: &str, sdp: &[u8]) -> Vec<u8> {
    let mut b = in_dialog_head(local, leg, Method::Invite, cseq, branch);
    b.header("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO");
    b.finish(Some("application/sdp"), sdp)
}

/// CANCEL for the INVITE we sent on `leg` (RFC 3261 section 9.1): the INVITE's
/// Request-URI, Via (same branch), From, To, Call-ID and CSeq number, from the leg's
/// fields. Our INVITEs carry no Route and always CSeq 1.
pub(crate) fn cancel(local: &Local, leg: &Leg) -> Vec<u8> {
    let mut b = MessageBuilder::request(Method::Cancel, &leg.request_uri);
    local.via(&mut b, leg.peer.transport, &leg.invite_tx.branch);
    b.header("Max-Forwards", "70");
    b.header("From", &leg.local_with_tag());
    b.header("To", &leg.remote_uri);
    b.header("Call-ID", &leg.call_id);
    b.header("CSeq", "1 CANCEL");
    b.finish(None, b"")
}

/// Adds Content-Type and body of `m` (if any) and finishes.
pub(crate) fn copy_body(b: MessageBuilder, m: &Message<'_>) -> Vec<u8> {
    let ct = m.header(HeaderName::ContentType);
    b.finish(ct, m.body())
}

/// The final NOTIFY of a REFER's implicit subscription (RFC 3515 section 2.4.5): the
/// transfer is carried out (`SIP/2.0 200 OK` as `message/sipfrag`), the subscription ends.
pub(crate) fn refer_notify(local: &Local, leg: &Leg, cseq: u32, branch: &str) -> Vec<u8> {
    let mut b = in_dialog_head(local, leg, Method::Notify, cseq, branch);
    b.header("Event", "refer");
    b.header("Subscription-State", "terminated;reason=noresource");
    b.header("Contact", &local.contact(leg.peer.transport));
    b.finish(Some("message/sipfrag;version=2.0"), b"SIP/2.0 200 OK\r\n")
}

/// NOTIFY with `Event: talk` inside a ringing B-leg's early dialog: phones that support
/// remote answer (BroadSoft-style, as Polycom and Yealink do) answer the call on it.
pub(crate) fn talk_notify(local: &Local, leg: &Leg, cseq: u32, branch: &str) -> Vec<u8> {
    let mut b = MessageBuilder::request(Method::Notify, &leg.remote_target);
    local.via(&mut b, leg.peer.transport, branch);
    b.header("Max-Forwards", "70");
    b.header("From", &leg.local_with_tag());
    b.header("To", &leg.remote_with_tag());
    b.header("Call-ID", &leg.call_id);
    b.header_fmt("CSeq", format_args!("{cseq} NOTIFY"));
    b.header("Event", "talk");
    b.header("Subscription-State", "terminated");
    b.header("Contact", &local.contact(leg.peer.transport));
    b.finish(None, b"")
}
