//! Finding one note for a request, with the access decision.

use crate::api::access::record_grant_use;
use crate::app::AppState;
use crate::audit::RequestMeta;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::NoteId;
use crate::policy::Denial;
use crate::policy::notes::{self as policy, NoteUse, VisibleNote};
use crate::store::notes::{self, NoteRow};

/// Note `id` (locked until the transaction ends when `lock`) as the caller may see it, or the
/// 404: audited `CROSS_TENANT_ACCESS_ATTEMPT` when it is another organization's,
/// `ACCESS_DENIED` when the caller may not see it (a psychotherapy note not theirs, a patient
/// off their care team). An access through an emergency grant is audited `BTG_USE_ACCESS`.
pub(super) async fn find_visible(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    may: &NoteUse,
    id: NoteId,
    lock: bool,
) -> Result<VisibleNote<NoteRow>, AppError> {
    let Some(row) = notes::find(tx, may, id, lock).await? else {
        let owner = notes::organization_of(tx, id).await?;
        return Err(Denial::not_found(caller, "note", id, owner).into());
    };
    let note = policy::visible(tx, caller, may, row).await?;
    if let Some(grant) = note.access().grant_id {
        record_grant_use(state, tx, caller, meta, note.patient_id(), grant).await?;
    }
    Ok(note)
}

/// The usual start of a request on one note: the caller may use notes (else the 403 for
/// `operation`), a tenant transaction, and the note as they may see it (else the 404).
pub(super) async fn open_visible(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    id: NoteId,
    operation: &'static str,
    lock: bool,
) -> Result<(TenantTx, VisibleNote<NoteRow>), AppError> {
    let may = policy::use_notes(caller, operation)
        .map_err(|_| Denial::forbidden_on(caller, operation, "note", id, None))?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let note = find_visible(state, &mut tx, caller, meta, &may, id, lock).await?;
    Ok((tx, note))
}
