//! A new call's record: built once from the INVITE and where it was placed (its type at
//! this site, the caller, the UUID and UserData the DR peer sent), and the domain event
//! that opens it.

use super::*;

/// The call record for a new INVITE: its type as this site sees it, the caller, and the
/// call UUID and UserData the DR peer sent with it (BC-68), if it came from the peer.
pub(super) fn new_call(ctx: &mut Ctx<'_>, req: &Message<'_>, arrival: &Arrival, delivery: &Delivery, a: Leg) -> Call {
    let call_type = match (arrival.caller_is_local, delivery) {
        (true, Delivery::Trunk(..) | Delivery::ViaPeer(_)) => CallType::Outbound, // BC-30
        (true, _) => CallType::Internal,
        (false, _) => CallType::Inbound,
    };
    let peer_header = |name: &str| {
        req.headers().iter().find(|h| arrival.from_dr_peer && h.raw_name.eq_ignore_ascii_case(name)).map(|h| h.value)
    };
    let uuid = peer_header("X-Genesys-CallUUID").map(str::to_owned).unwrap_or_else(|| ctx.token(16));
    let user_data = peer_header(USER_DATA_HEADER).and_then(|v| serde_json::from_str::<cti::KvList>(v).ok());
    // ISCC: a call from the DR peer keeps its ConnID; one routed there is an ACD call here.
    let conn_id = peer_header(build::CONN_ID_HEADER).and_then(cti::parse_conn_id).filter(|c| *c != 0);
    let acd = peer_header(build::ROUTED_FROM_HEADER).is_some();
    // The DR peer anchored the media already: once, not twice.
    let anchored_at_peer = peer_header(build::MEDIA_HEADER) == Some("anchored");
    Call {
        conn_id: conn_id.unwrap_or_else(|| ctx.rng.gen::<u64>() | 1),
        uuid,
        user_data,
        dn: arrival.dn.clone(),
        caller: arrival.caller.clone(),
        caller_dn: arrival.caller_is_local.then(|| arrival.caller.clone()),
        call_type,
        a,
        b: Vec::new(),
        answer: Answer::Waiting { ringing_sent: false },
        on_rp: OnRp::Off,
        acd,
        redirections: 0,
        from_peer: match (acd, arrival.forwarded) {
            (true, _) => FromPeer::Routed,
            (false, true) => FromPeer::Forwarded,
            (false, false) => FromPeer::No,
        },
        queued_since: None,
        third_party: None,
        hold: Hold::Off,
        media: anchor::CallMedia { unanchored: anchored_at_peer, ..Default::default() },
    }
}

/// The first event of a call: what a CDR starts from.
pub(super) fn offered(call: &Call) -> DomainEvent {
    DomainEvent::CallOffered {
        conn_id: call.conn_id,
        uuid: call.uuid.clone(),
        caller: call.caller.clone(),
        dn: call.dn.clone(),
        call_type: call.call_type,
        forwarded: call.from_peer != FromPeer::No,
    }
}
