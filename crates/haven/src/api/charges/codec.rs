//! The wire types of charges. A charge carries codes, units and amounts: never note content.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::pagination::Pagination;
use crate::ids::{AuthorizationId, ChargeId, PatientId, TherapySessionId, UserId};
use crate::store::charges::ChargeRow;

/// A charge: the billable line of one completed therapy session.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargeView {
    /// The charge.
    id: ChargeId,
    /// The completed session it bills.
    session_id: TherapySessionId,
    /// The authorization its units came from.
    authorization_id: AuthorizationId,
    /// Whose.
    patient_id: PatientId,
    /// The session's clinician.
    rendering_provider_id: Option<UserId>,
    /// The authorization's payer.
    payer_name: String,
    /// The date of service, in the practice's time zone.
    #[schema(value_type = String, format = Date)]
    service_date: NaiveDate,
    /// The authorization's CPT/HCPCS code.
    cpt_code: String,
    /// Up to four two-character modifiers.
    modifiers: Vec<String>,
    /// Up to twelve ICD-10-CM codes.
    diagnosis_codes: Vec<String>,
    /// One to four 1-based positions in `diagnosisCodes` (empty while `DIAGNOSIS_MISSING`).
    diagnosis_pointers: Vec<i16>,
    /// Two-digit place of service (default 11, office).
    place_of_service: String,
    /// Units billed: the session's units in the ledger, never typed in.
    units: i32,
    /// The session's net units in the unit ledger now.
    ledger_units: i32,
    /// The fee schedule's rate on the date of service (`null`: no entry matched).
    cents_per_unit: Option<i64>,
    /// `units × centsPerUnit` (0 without a rate).
    charge_cents: i64,
    /// `PENDING` (held), `READY`, `EXPORTED` or `VOID`.
    status: String,
    /// Why it is held: `NOTE_MISSING`, `NOTE_UNSIGNED`, `COSIGN_MISSING`, `DIAGNOSIS_MISSING`,
    /// `AUTHORIZATION_EXPIRED`, `MANUAL`.
    hold_reasons: Vec<String>,
    /// Billing's reason for a `MANUAL` hold.
    manual_hold_reason: Option<String>,
    /// Why it was voided.
    void_reason: Option<String>,
    /// Bumped by every change; `PATCH` names it as `expectedVersion`.
    version: i32,
    /// Made (when the session was completed).
    created_at: DateTime<Utc>,
    /// Last changed.
    updated_at: DateTime<Utc>,
}

impl ChargeView {
    /// The view of `row`.
    #[must_use]
    pub fn new(row: &ChargeRow) -> Self {
        Self {
            id: row.id,
            session_id: row.session_id,
            authorization_id: row.authorization_id,
            patient_id: row.patient_id,
            rendering_provider_id: row.rendering_provider_id,
            payer_name: row.payer_name.clone(),
            service_date: row.service_date,
            cpt_code: row.cpt_code.clone(),
            modifiers: row.modifiers.clone(),
            diagnosis_codes: row.diagnosis_codes.clone(),
            diagnosis_pointers: row.diagnosis_pointers.clone(),
            place_of_service: row.place_of_service.clone(),
            units: row.units,
            ledger_units: row.ledger_units,
            cents_per_unit: row.cents_per_unit,
            charge_cents: row.charge_cents,
            status: row.status.clone(),
            hold_reasons: row.hold_reasons.clone(),
            manual_hold_reason: row.manual_hold_reason.clone(),
            void_reason: row.void_reason.clone(),
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// `{charge}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChargeResponse {
    /// The charge.
    pub charge: ChargeView,
}

/// A page of charges.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChargeList {
    /// The charges, by date of service.
    pub charges: Vec<ChargeView>,
    /// The page.
    pub pagination: Pagination,
}
