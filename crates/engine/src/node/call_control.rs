//! A desktop's call control after the answer, handed to the B2BUA: hold and retrieve,
//! single-step and two-step transfer, redirect, UserData, and the conference requests
//! (refused: mixing needs a media partner).

use std::time::Instant;

use super::Node;
use crate::b2bua::{HoldOrder, PairOrder, RecordOrder, Refusal, TransferOrder, UserDataOrder};
use crate::desks::DeskId;

impl Node {
    /// One call-control request from a desktop that registered its ThisDN.
    pub(super) fn call_control(
        &mut self,
        now: Instant,
        desk: DeskId,
        request: &cti::Request,
        call: cti::CallRequest<'_>,
    ) -> Result<(), Refusal> {
        use cti::CallRequest as C;
        let (reference_id, requester) = (request.reference_id(), Some(desk));
        let transfer = |t, conn_id| transfer_order(t, conn_id, reference_id, requester);
        match call {
            C::Hold { conn: None, .. }
            | C::Retrieve { conn: None, .. }
            | C::Transfer(cti::Transfer { conn: None, .. })
            | C::Consult(cti::Transfer { conn: None, .. })
            | C::Redirect { conn: None, .. }
            | C::UserData { conn: None, .. }
            | C::Pair { conn: None, .. }
            | C::Pair { other: None, .. }
            | C::Record { conn: None, .. }
            | C::DeleteFromConference { conn: None, .. } => Err(cti::ErrorCode::NoSuchCall.into()),
            C::Hold { this_dn, conn: Some(conn_id) } | C::Retrieve { this_dn, conn: Some(conn_id) } => {
                let hold = matches!(call, C::Hold { .. });
                let order = HoldOrder { conn_id, dn: this_dn, hold, reference_id, requester };
                self.with_b2bua(now, |b, ctx| b.hold(ctx, order))
            }
            C::Transfer(_) | C::Consult(_) if self.shutting_down => Err(cti::ErrorCode::ShuttingDown.into()),
            C::Transfer(t @ cti::Transfer { conn: Some(conn_id), .. }) => {
                self.with_b2bua(now, |b, ctx| b.transfer(ctx, transfer(t, conn_id)))
            }
            C::Consult(_) if conferencing(request) && !self.has_mixer() => Err(Refusal::new(NOT_SUPPORTED, NO_MIXER)),
            C::Consult(t @ cti::Transfer { conn: Some(conn_id), .. }) => {
                self.with_b2bua(now, |b, ctx| b.initiate_transfer(ctx, transfer(t, conn_id)))
            }
            C::Redirect { this_dn, conn: Some(conn_id), other_dn } => {
                let t = cti::Transfer { this_dn, conn: Some(conn_id), other_dn, location: None, user_data: None };
                let order = transfer(t, conn_id);
                self.with_b2bua(now, |b, ctx| b.redirect(ctx, order))
            }
            C::UserData { this_dn, conn: Some(conn_id), change } => {
                let order = UserDataOrder { conn_id, dn: this_dn, change, reference_id, requester };
                self.with_b2bua(now, |b, ctx| b.change_user_data(ctx, order))
            }
            C::Pair { this_dn, conn: Some(a), other: Some(b), op } => {
                let order = PairOrder { dn: this_dn, conns: (a, b), op, reference_id, requester };
                self.with_b2bua(now, |bua, ctx| bua.pair(ctx, order))
            }
            C::Record { this_dn, conn: Some(conn_id), op } => {
                let order = RecordOrder { conn_id, dn: this_dn, op, reference_id, requester };
                self.with_b2bua(now, |b, ctx| b.record(ctx, order))
            }
            C::DeleteFromConference { this_dn, conn: Some(conn_id), other_dn } => {
                let (call, asked) = ((conn_id, this_dn, other_dn), (reference_id, requester));
                self.with_b2bua(now, |b, ctx| b.delete_from_conference(ctx, call, asked))
            }
            C::Release { .. } | C::Answer { .. } | C::Route { .. } | C::ApplyTreatment { .. } | C::Make { .. } => {
                Err(cti::ErrorCode::InvalidRequest.into()) // sorted to `call_request`, never here
            }
        }
    }
}

/// A transfer request as the B2BUA takes it.
fn transfer_order<'a>(
    t: cti::Transfer<'a>,
    conn_id: u64,
    reference_id: Option<u64>,
    requester: Option<DeskId>,
) -> TransferOrder<'a> {
    TransferOrder {
        conn_id,
        dn: t.this_dn,
        target: t.other_dn,
        location: t.location,
        user_data: t.user_data,
        reference_id,
        requester,
    }
}

/// Why conference requests are refused.
const NO_MIXER: &str = "conferences need a conference mixer (`[site.media] mixer`), and this site has none (rtpengine 10.5 relays two parties, it cannot mix three)";

const NOT_SUPPORTED: cti::ErrorCode = cti::ErrorCode::NotSupported;

impl Node {
    /// The site has a conference mixer.
    fn has_mixer(&self) -> bool {
        self.config.media.as_ref().is_some_and(|m| m.mixer)
    }
}

/// True for RequestInitiateConference (sorted as a consultation, as the reference does).
fn conferencing(request: &cti::Request) -> bool {
    matches!(request, cti::Request::RequestInitiateConference { .. })
}
