//! A phone's in-dialog REFER (RFC 3515), carried out by Tandem itself: a B2BUA cannot
//! pass it on (the dialogs it names are Tandem's, and the gateway must not see a
//! transfer). Without `Replaces` it is a single-step transfer of the call to the Refer-To
//! user; with `Replaces` (RFC 3891; attended transfer as RFC 5589 section 7) it completes
//! a transfer between the REFER's call and the call the Replaces names, which the same
//! phone made: the held caller joins the phone's other party. Both are checked before
//! anything changes; refused, the REFER gets 403 (481 when Replaces names no dialog) and
//! the call is as it was. A REFER from another address than the dialog's phone gets 403.
//! Accepted, it gets 202 and a final NOTIFY (`message/sipfrag`, `SIP/2.0 200 OK`), then
//! the phone's dialogs get BYE as for the CTI requests.

use super::consult::{MergePlan, PairOrder};
use super::transfer::TransferOrder;
use super::*;

/// What a REFER asks, once understood.
enum Referral {
    /// Transfer the call to this user.
    Blind(String),
    /// Join the held call to the far party of this dialog (Call-ID, one tag, the other).
    Replaces(String, String, String),
}

/// The REFER being answered: its server transaction, the message and where it came from.
struct Asked<'r, 'm> {
    key: &'r TxKey,
    req: &'r Message<'m>,
    peer: Peer,
}

impl Asked<'_, '_> {
    fn respond(&self, ctx: &mut Ctx<'_>, code: u16, reason: &str) {
        let bytes = response(self.req, code, reason, "", self.peer.addr).finish(None, b"");
        ctx.tx.respond(ctx.now, self.key, code, bytes.into());
    }
}

impl B2bua {
    /// A REFER in dialog `side` of call `id`.
    pub(super) fn on_refer(
        &mut self,
        ctx: &mut Ctx<'_>,
        (id, side): (CallId, Side),
        key: &TxKey,
        req: &Message<'_>,
        peer: Peer,
    ) {
        let asked = Asked { key, req, peer };
        let Some(call) = self.calls.get(&id) else { return };
        // Only the phone of the dialog may transfer it: whoever else learned its Call-ID
        // and tags (a gateway's side, a capture) is refused.
        if call.leg(side).is_none_or(|leg| leg.peer.addr.ip() != peer.addr.ip()) {
            return asked.respond(ctx, 403, "Forbidden - REFER from another address than the dialog's");
        }
        let Some(dn) = call.dn_on(side).map(str::to_owned) else {
            return asked.respond(ctx, 403, "Forbidden - no DN of this site may transfer here");
        };
        let conn_id = call.conn_id;
        let outcome = match referral(req) {
            None => return asked.respond(ctx, 400, "Bad Request - unreadable Refer-To"),
            Some(Referral::Blind(target)) => {
                let order = TransferOrder {
                    conn_id,
                    dn: &dn,
                    target: &target,
                    location: None,
                    user_data: None,
                    reference_id: None,
                    requester: None,
                };
                self.plan_transfer(ctx, order).map(|plan| {
                    self.accept(ctx, &asked, id, side);
                    self.carry_out_transfer(ctx, order, plan);
                })
            }
            Some(Referral::Replaces(call_id, tag, other_tag)) => {
                let Some(plan) = self.replaces_plan(&dn, id, (&call_id, &tag, &other_tag)) else {
                    return asked.respond(ctx, 481, "Call/Transaction Does Not Exist - Replaces");
                };
                plan.map(|plan| {
                    self.accept(ctx, &asked, id, side);
                    let (conns, op) = ((conn_id, conn_id), cti::PairOp::Complete);
                    let order = PairOrder { dn: &dn, conns, op, reference_id: None, requester: None };
                    self.merge(ctx, plan, order);
                })
            }
        };
        if let Err(refusal) = outcome {
            tracing::info!(%dn, reason = refusal.text, "a phone's REFER was refused");
            if refusal.code == cti::ErrorCode::NoSuchCall {
                asked.respond(ctx, 481, "Call/Transaction Does Not Exist");
            } else {
                asked.respond(ctx, 403, "Forbidden - transfer refused");
            }
        }
    }

    /// 202 for the REFER, then the final NOTIFY of its implicit subscription (RFC 3515
    /// section 2.4.5), before the phone's dialog gets its BYE.
    fn accept(&mut self, ctx: &mut Ctx<'_>, asked: &Asked<'_, '_>, id: CallId, side: Side) {
        asked.respond(ctx, 202, "Accepted");
        let Some(leg) = self.calls.get_mut(&id).and_then(|c| c.leg_mut(side)) else { return };
        let cseq = leg.next_cseq();
        let branch = ctx.branch();
        let notify: Arc<[u8]> = build::refer_notify(&ctx.local, leg, cseq, &branch).into();
        let notify_key = ctx.tx.send_request(ctx.now, &branch, Method::Notify, leg.peer, notify);
        self.pending.insert(notify_key, Pending::Fire);
    }

    /// The merge a REFER with Replaces asks for: `dn` must be the callee of one of the two
    /// calls (the held one) and the caller of the other. None when no dialog matches.
    fn replaces_plan(
        &self,
        dn: &str,
        id: CallId,
        (call_id, tag, other_tag): (&str, &str, &str),
    ) -> Option<Result<MergePlan, Refusal>> {
        let find = |t: &str| self.dialogs.get(&(call_id.to_owned(), t.to_owned())).map(|(c, _)| *c);
        let other = find(tag).or_else(|| find(other_tag))?;
        let (main, consult) = match (self.calls.get(&id), self.calls.get(&other)) {
            (Some(a), Some(b)) if a.dn == dn && b.caller_dn.as_deref() == Some(dn) => (id, other),
            (Some(a), Some(b)) if b.dn == dn && a.caller_dn.as_deref() == Some(dn) => (other, id),
            _ => return Some(Err(Refusal::new(cti::ErrorCode::InvalidState, NOT_ITS_CALLS))),
        };
        if main == consult || self.calls.get(&main).and_then(|m| m.party_of(dn)).is_none() {
            return Some(Err(Refusal::new(cti::ErrorCode::InvalidState, NOT_ITS_CALLS)));
        }
        Some(self.plan_merge(main, consult))
    }
}

/// Reads the Refer-To header: its user, or the dialog its `Replaces` names.
fn referral(req: &Message<'_>) -> Option<Referral> {
    let refer_to = sipmsg::NameAddr::parse(req.header(HeaderName::ReferTo)?)?;
    let uri = *refer_to.uri.as_sip()?;
    let replaces = uri
        .headers
        .into_iter()
        .flat_map(|h| h.split('&'))
        .find_map(|h| h.split_once('=').filter(|(name, _)| name.eq_ignore_ascii_case("Replaces")))
        .map(|(_, value)| percent_decode(value));
    match replaces {
        None => Some(Referral::Blind(uri.user?.to_owned())),
        Some(value) => {
            let value = value?;
            let mut parts = value.split(';');
            let call_id = parts.next()?.trim().to_owned();
            let tag = |name: &str| {
                value.split(';').find_map(|p| p.trim().strip_prefix(name).map(str::to_owned)).unwrap_or_default()
            };
            let (to_tag, from_tag) = (tag("to-tag="), tag("from-tag="));
            (!call_id.is_empty() && !to_tag.is_empty()).then_some(Referral::Replaces(call_id, to_tag, from_tag))
        }
    }
}

/// `%XX` escapes decoded (RFC 3986 section 2.1); None for a broken escape or bytes that
/// are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

const NOT_ITS_CALLS: &str = "Replaces names no call of this phone's other party";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_replaces_values_are_decoded() {
        assert_eq!(percent_decode("abc%3Bto-tag%3D1%3bfrom-tag%3D2").as_deref(), Some("abc;to-tag=1;from-tag=2"));
        assert_eq!(percent_decode("50%"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }
}
