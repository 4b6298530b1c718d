//! A call's UserData during the call (RequestAttachUserData, RequestUpdateUserData,
//! RequestDeleteUserData, RequestDeleteAllUserData): changed by a client of one of the
//! call's DNs (a party's desktop, or a router on the Routing Point it waits on), heard by
//! every party as EventAttachedDataChanged, carried on with the call (to the DR peer in
//! [`USER_DATA_HEADER`] when it goes there next).

use super::*;

/// A UserData request, as the B2BUA takes it.
#[derive(Debug, Clone)]
pub(crate) struct UserDataOrder<'a> {
    pub(crate) conn_id: u64,
    pub(crate) dn: &'a str,
    pub(crate) change: cti::UserDataChange<'a>,
    pub(crate) reference_id: Option<u64>,
    pub(crate) requester: Option<crate::DeskId>,
}

impl B2bua {
    /// Changes the UserData of call `order.conn_id`, which `order.dn` must be part of.
    pub(crate) fn change_user_data(&mut self, ctx: &mut Ctx<'_>, order: UserDataOrder<'_>) -> Result<(), Refusal> {
        let id = *self.by_conn.get(&order.conn_id).ok_or(cti::ErrorCode::NoSuchCall)?;
        let call = self.calls.get_mut(&id).ok_or(cti::ErrorCode::NoSuchCall)?;
        if call.dn != order.dn && call.caller_dn.as_deref() != Some(order.dn) {
            return Err(cti::ErrorCode::NoSuchCall.into());
        }
        let mut data = call.user_data.clone().unwrap_or_default();
        match order.change {
            cti::UserDataChange::Attach(more) => {
                for (k, v) in more {
                    data.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            cti::UserDataChange::Update(more) => data.extend(more.iter().map(|(k, v)| (k.clone(), v.clone()))),
            cti::UserDataChange::Delete(key) => {
                data.remove(key);
            }
            cti::UserDataChange::DeleteAll => data.clear(),
        }
        check_user_data_size(Some(&data), None)?;
        let dns: Vec<String> = std::iter::once(call.dn.clone()).chain(call.caller_dn.clone()).collect();
        call.user_data = (!data.is_empty()).then(|| data.clone());
        ctx.events.push(DomainEvent::UserDataChanged {
            conn_id: call.conn_id,
            dns,
            by: order.dn.to_owned(),
            user_data: data,
            reference_id: order.reference_id,
            requester: order.requester,
        });
        Ok(())
    }
}

/// Refuses UserData that would not fit in SIP ([`crate::intake::user_data_fits`]):
/// `current` with `extra` merged over it.
pub(super) fn check_user_data_size(current: Option<&cti::KvList>, extra: Option<&cti::KvList>) -> Result<(), Refusal> {
    let fits = match (current, extra) {
        (Some(current), Some(extra)) => {
            let mut merged = current.clone();
            merged.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            crate::intake::user_data_fits(&merged)
        }
        (one, other) => one.or(other).is_none_or(crate::intake::user_data_fits),
    };
    if !fits {
        return Err(Refusal::new(cti::ErrorCode::InvalidRequest, "the call's UserData would exceed 4,096 bytes"));
    }
    Ok(())
}
