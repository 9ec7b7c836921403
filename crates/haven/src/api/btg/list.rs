//! `GET /api/admin/btg/grants` (ADMIN, COMPLIANCE).

use std::collections::{BTreeSet, HashMap};

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::ids::{GrantId, PatientId};

use super::review::ReviewOutcome;
use crate::api::pagination::{Page, Pagination};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::ids::UserId;
use crate::phi::FieldRef;
use crate::policy::btg as policy;
use crate::store::btg::{self as store, GrantRow, PatientNameRow, StaffRow, Status};

/// `?status=active|expired|revoked|all&page&limit` (status defaults to `all`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct GrantQuery {
    /// Which grants: `active` (neither revoked nor expired), `expired` (ran out without being
    /// revoked), `revoked`, or `all` (the default). Exact, lower case.
    #[param(value_type = Option<Status>, inline)]
    status: Option<String>,
    /// The page, from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<i64>,
    /// Grants per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

fn status(value: Option<&str>) -> Result<Status, AppError> {
    match value {
        None | Some("all") => Ok(Status::All),
        Some("active") => Ok(Status::Active),
        Some("expired") => Ok(Status::Expired),
        Some("revoked") => Ok(Status::Revoked),
        Some(_) => Err(AppError::invalid_field(
            "status",
            "must be active, expired, revoked or all",
        )),
    }
}

/// One grant, for its overseers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BtgGrant {
    /// The grant's id.
    id: GrantId,
    /// The ADMIN who granted it.
    granted_by_user: BtgStaff,
    /// Who holds it.
    granted_to_user: BtgStaff,
    /// The patient it opens: with name and MRN for an ADMIN, the id only for COMPLIANCE.
    patient: BtgPatient,
    /// Why it was granted, as the granting admin wrote it.
    justification: String,
    /// How long it lasts, in minutes.
    duration_minutes: i32,
    /// When it stops (or stopped) working.
    expires_at: DateTime<Utc>,
    /// When it was revoked, or `null`.
    #[schema(required = true)]
    revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked, or `null`.
    #[schema(required = true)]
    revoked_reason: Option<String>,
    /// When it was reviewed, or `null` while not reviewed.
    #[schema(required = true)]
    reviewed_at: Option<DateTime<Utc>>,
    /// The review's verdict, or `null` while not reviewed.
    #[schema(required = true)]
    review_outcome: Option<ReviewOutcome>,
    /// When it was granted.
    created_at: DateTime<Utc>,
}

/// A staff member named by a grant (not PHI).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BtgStaff {
    /// The user's id.
    id: UserId,
    /// Their login email. (The name and email are present for every account of the practice;
    /// only an account that cannot be read would show its id alone.)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    email: Option<String>,
    /// Their given name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    first_name: Option<String>,
    /// Their family name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    last_name: Option<String>,
}

impl BtgStaff {
    fn new(id: UserId, staff: &HashMap<UserId, StaffRow>) -> Self {
        let row = staff.get(&id);
        Self {
            id,
            email: row.map(|u| u.email.clone()),
            first_name: row.map(|u| u.first_name.clone()),
            last_name: row.map(|u| u.last_name.clone()),
        }
    }
}

/// The patient a grant opens. An ADMIN sees the name and MRN (decrypted, each patient shown
/// audited `PATIENT_LIST`); COMPLIANCE sees `{id}` only, and so does an ADMIN for a deleted
/// patient.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BtgPatient {
    /// The patient's id.
    id: PatientId,
    /// Given name (ADMIN only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    first_name: Option<String>,
    /// Family name (ADMIN only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    last_name: Option<String>,
    /// Medical record number (ADMIN only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    medical_record_number: Option<String>,
}

impl BtgPatient {
    /// The patient's id alone.
    const fn id_only(id: PatientId) -> Self {
        Self {
            id,
            first_name: None,
            last_name: None,
            medical_record_number: None,
        }
    }
}

/// `{grants, count, pagination}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BtgGrantList {
    /// The page's grants, newest first.
    grants: Vec<BtgGrant>,
    /// How many grants have the requested status (the same as `pagination.total`).
    count: i64,
    /// Where the page is in the whole list.
    pagination: Pagination,
}

/// Emergency access grants, newest first.
///
/// `GET /api/admin/btg/grants?status` → `{grants, count, pagination}`; `count` is the number of
/// grants with that status. ADMIN and COMPLIANCE; other roles (SUPER_ADMIN included) get 403.
/// An ADMIN sees each patient's name and MRN (decrypted; each patient shown is audited as
/// `PATIENT_LIST` before the response leaves); COMPLIANCE sees the patient's id only.
#[utoipa::path(
    get,
    path = "/grants",
    tag = "btg",
    params(GrantQuery),
    responses((status = 200, description = "A page of the practice's grants", body = BtgGrantList)),
)]
pub async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<GrantQuery>,
) -> Result<AppJson<BtgGrantList>, AppError> {
    let may = policy::oversee(&caller, "list_btg_grants")?;
    let status = status(query.status.as_deref())?;
    let page = Page::from_query(query.page, query.limit)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (rows, total) = store::list(&mut tx, &may, status, page.limit, page.offset()).await?;
    let user_ids: Vec<UserId> = rows
        .iter()
        .flat_map(|g| [g.granted_by_user_id, g.granted_to_user_id])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let staff: HashMap<UserId, StaffRow> = store::staff(&mut tx, &user_ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let patient_ids: Vec<PatientId> = rows
        .iter()
        .map(|g| g.patient_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut patients: HashMap<PatientId, BtgPatient> = HashMap::new();
    if may.sees_patient_names() {
        for row in store::patient_names(&mut tx, &may, &patient_ids).await? {
            patients.insert(row.id, open_patient(&state, &mut tx, &row).await?);
        }
        let events: Vec<AuditEvent> = patients
            .keys()
            .map(|patient| {
                AuditEvent::new(AuditAction::PatientList)
                    .by(caller.actor())
                    .with_entity("patient", patient)
                    .with_patient(*patient)
                    .with_details(json!({ "source": "btg_grants", "page": page.page }))
                    .with_request(&meta)
            })
            .collect();
        audit::record_many(&mut tx, &events).await?;
    }
    let grants = rows
        .iter()
        .map(|grant| to_grant(grant, &staff, &patients))
        .collect::<Result<_, _>>()?;
    tx.commit().await?;
    Ok(AppJson(BtgGrantList {
        grants,
        count: total,
        pagination: page.info(total),
    }))
}

fn to_grant(
    grant: &GrantRow,
    staff: &HashMap<UserId, StaffRow>,
    patients: &HashMap<PatientId, BtgPatient>,
) -> Result<BtgGrant, AppError> {
    let review_outcome = grant
        .review_outcome
        .as_deref()
        .map(|stored| {
            ReviewOutcome::from_name(stored).ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!(
                    "grant {} has an unknown review outcome {stored:?}",
                    grant.id
                ))
            })
        })
        .transpose()?;
    Ok(BtgGrant {
        id: grant.id,
        granted_by_user: BtgStaff::new(grant.granted_by_user_id, staff),
        granted_to_user: BtgStaff::new(grant.granted_to_user_id, staff),
        patient: patients
            .get(&grant.patient_id)
            .cloned()
            .unwrap_or_else(|| BtgPatient::id_only(grant.patient_id)),
        justification: grant.justification.clone(),
        duration_minutes: grant.duration_minutes,
        expires_at: grant.expires_at,
        revoked_at: grant.revoked_at,
        revoked_reason: grant.revoked_reason.clone(),
        reviewed_at: grant.reviewed_at,
        review_outcome,
        created_at: grant.created_at,
    })
}

/// `{id, firstName, lastName, medicalRecordNumber}`, decrypted; a field that does not decrypt
/// fails the request (never shown, never guessed).
async fn open_patient(
    state: &AppState,
    tx: &mut TenantTx,
    row: &PatientNameRow,
) -> Result<BtgPatient, AppError> {
    Ok(BtgPatient {
        id: row.id,
        first_name: Some(open_field(state, tx, row.id, "first_name", &row.first_name).await?),
        last_name: Some(open_field(state, tx, row.id, "last_name", &row.last_name).await?),
        medical_record_number: Some(
            open_field(
                state,
                tx,
                row.id,
                "medical_record_number",
                &row.medical_record_number,
            )
            .await?,
        ),
    })
}

/// One encrypted column of patient `patient`, decrypted.
async fn open_field(
    state: &AppState,
    tx: &mut TenantTx,
    patient: PatientId,
    column: &'static str,
    blob: &[u8],
) -> Result<String, AppError> {
    let field = FieldRef {
        organization_id: tx.organization_id(),
        table: "patients",
        column,
        row: patient.as_uuid(),
    };
    let plain = state
        .keyring()
        .decrypt(tx, &field, blob)
        .await
        .map_err(|_| {
            AppError::Internal(anyhow::anyhow!("patient field {column} does not decrypt"))
        })?;
    Ok(plain.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_status_is_accepted_and_nothing_else() {
        let schema =
            serde_json::to_value(<Status as utoipa::PartialSchema>::schema()).expect("serializes");
        let documented: Vec<&str> = schema["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect();
        assert_eq!(documented.len(), 4);
        for value in documented {
            let parsed = status(Some(value)).expect("documented values parse");
            assert_eq!(format!("{parsed:?}").to_lowercase(), value);
        }
        assert_eq!(status(None).expect("default"), Status::All);
        for value in ["", "ALL", "Active", "pending"] {
            assert!(status(Some(value)).is_err(), "{value}");
        }
    }

    #[test]
    fn a_patient_shows_its_id_alone_unless_opened() {
        let id = PatientId::from_uuid(uuid::Uuid::nil());
        assert_eq!(
            serde_json::to_value(BtgPatient::id_only(id)).expect("serializes"),
            json!({ "id": id })
        );
        let staff = BtgStaff::new(UserId::from_uuid(id.as_uuid()), &HashMap::new());
        assert_eq!(
            serde_json::to_value(staff).expect("serializes"),
            json!({ "id": id })
        );
    }
}
