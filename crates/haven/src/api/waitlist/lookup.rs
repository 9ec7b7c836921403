//! Finding one entry or offer for a request, with the access decision; the entry's notes,
//! sealed and opened.

use crate::api::access::visible;
use crate::api::patients::codec::MASKED;
use crate::app::AppState;
use crate::audit::RequestMeta;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::{WaitlistEntryId, WaitlistOfferId};
use crate::phi::FieldRef;
use crate::policy::Denial;
use crate::policy::patients::{PatientUse, View, Visible};
use crate::store::waitlist::{self, EntryRow};
use crate::store::waitlist_offers::{self, OfferRow};

/// Entry `id` (locked when `lock`) as the caller may see it, or the 404: audited
/// `CROSS_TENANT_ACCESS_ATTEMPT` when it is another organization's, `ACCESS_DENIED` when the
/// caller may not see its patient.
pub(super) async fn find_entry(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    may: &PatientUse,
    id: WaitlistEntryId,
    lock: bool,
) -> Result<Visible<EntryRow>, AppError> {
    let Some(row) = waitlist::find(tx, may, id, lock).await? else {
        let owner = waitlist::organization_of(tx, id).await?;
        return Err(Denial::not_found(caller, "waitlist_entry", id, owner).into());
    };
    visible(state, tx, caller, meta, may, row).await
}

/// Offer `id` (locked when `lock`) as the caller may see it, or the audited 404.
pub(super) async fn find_offer(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    may: &PatientUse,
    id: WaitlistOfferId,
    lock: bool,
) -> Result<Visible<OfferRow>, AppError> {
    let Some(row) = waitlist_offers::find(tx, may, id, lock).await? else {
        let owner = waitlist_offers::organization_of(tx, id).await?;
        return Err(Denial::not_found(caller, "waitlist_offer", id, owner).into());
    };
    visible(state, tx, caller, meta, may, row).await
}

fn notes_field(tx: &TenantTx, id: WaitlistEntryId) -> FieldRef {
    FieldRef {
        organization_id: tx.organization_id(),
        table: "waitlist_entries",
        column: "notes",
        row: id.as_uuid(),
    }
}

/// `notes` sealed under the practice's data key, bound to entry `id`.
pub(super) async fn seal_notes(
    state: &AppState,
    tx: &mut TenantTx,
    id: WaitlistEntryId,
    notes: Option<&str>,
) -> Result<Option<Vec<u8>>, AppError> {
    let Some(text) = notes else {
        return Ok(None);
    };
    let key = state
        .keyring()
        .data_key(tx)
        .await
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("PHI keys")))?;
    Ok(Some(key.encrypt(&notes_field(tx, id), text)))
}

/// The entry's notes as `view` may see them (masked for a platform operator).
pub(super) async fn open_notes(
    state: &AppState,
    tx: &mut TenantTx,
    row: &EntryRow,
    view: View,
) -> Result<Option<String>, AppError> {
    match &row.notes {
        None => Ok(None),
        Some(_) if view == View::Masked => Ok(Some(MASKED.to_owned())),
        Some(blob) => {
            let field = notes_field(tx, row.id);
            let plain = state
                .keyring()
                .decrypt(tx, &field, blob)
                .await
                .map_err(|_| {
                    // Fail closed: a key or integrity problem, never shown.
                    AppError::Internal(anyhow::anyhow!("waitlist notes do not decrypt"))
                })?;
            Ok(Some(plain.as_str().to_owned()))
        }
    }
}
