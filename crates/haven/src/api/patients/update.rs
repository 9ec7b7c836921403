//! `PATCH /api/patients/{id}` (ADMIN; CLINICIAN on the care team).

use axum::extract::State;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{PatientResponse, mrn_conflict, seal, to_patient};
use super::create::phi_error;
use super::lookup::find_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::{Email, MedicalRecordNumber, PersonName, PhoneNumber, parse_date_of_birth};
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::PatientId;
use crate::policy::patients::{self as policy, View};
use crate::store::patients::{self, EncryptedFields};

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`: clear it).
fn nullable<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// The request body: the fields to change, at least one. Absent fields stay as they are;
/// `null` clears the phone number or email (and changes nothing for the other fields). The same
/// rules as for a new patient apply; text is trimmed before it is checked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(min_properties = 1)]
pub struct UpdatePatient {
    /// Given name: 1–100 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*\s*$"
    )]
    first_name: Option<String>,
    /// Family name: 1–100 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*\s*$"
    )]
    last_name: Option<String>,
    /// Date of birth, `YYYY-MM-DD`: a real date from 1900-01-01 up to today.
    #[schema(format = Date, example = "2015-04-30")]
    date_of_birth: Option<String>,
    /// Medical record number: 1–64 letters, digits, `-`, `_`, `.` or `/`; unique within the
    /// practice.
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$", example = "MRN-0042")]
    medical_record_number: Option<String>,
    /// Phone number (7–15 digits, optionally with `+`, spaces, dashes, dots and parentheses; at
    /// most 25 characters), or `null` to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        value_type = Option<String>,
        max_length = 25,
        pattern = r"^\s*[+ ().-]*([0-9][+ ().-]*){7,15}\s*$",
        example = "+1 555 010 2233"
    )]
    phone_number: Option<Option<String>>,
    /// Email address, or `null` to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Email, max_length = 254)]
    email: Option<Option<String>>,
}

struct Checked {
    first_name: Option<String>,
    last_name: Option<String>,
    date_of_birth: Option<String>,
    mrn: Option<String>,
    phone: Option<Option<String>>,
    email: Option<Option<String>>,
    changed: Vec<&'static str>,
}

fn check(body: UpdatePatient) -> Result<Checked, AppError> {
    let mut details = Details::new();
    let mut changed = Vec::new();
    let mut take = |field: &'static str, value: Option<Result<String, String>>| {
        value.and_then(|result| match result {
            Ok(v) => {
                changed.push(field);
                Some(v)
            }
            Err(e) => {
                details.insert(field.to_owned(), e);
                None
            }
        })
    };
    let name = |n: String| PersonName::parse(&n).map(|n| n.as_str().to_owned());
    let first_name = take("firstName", body.first_name.map(name));
    let last_name = take("lastName", body.last_name.map(name));
    let date_of_birth = take(
        "dateOfBirth",
        body.date_of_birth
            .map(|d| parse_date_of_birth(&d).map(|d| d.format("%Y-%m-%d").to_string())),
    );
    let mrn = take(
        "medicalRecordNumber",
        body.medical_record_number
            .map(|m| MedicalRecordNumber::parse(&m).map(|m| m.as_str().to_owned())),
    );
    let mut nullable_field =
        |field: &'static str,
         value: Option<Option<String>>,
         parse: fn(&str) -> Result<String, String>| {
            value.map(|inner| {
                changed.push(field);
                inner.and_then(|v| {
                    parse(&v)
                        .map_err(|e| details.insert(field.to_owned(), e))
                        .ok()
                })
            })
        };
    let phone = nullable_field("phoneNumber", body.phone_number, |p| {
        PhoneNumber::parse(p).map(|p| p.as_str().to_owned())
    });
    let email = nullable_field("email", body.email, |e| {
        Email::parse(e)
            .map(|e| e.as_str().to_owned())
            .map_err(|e| e.to_string())
    });
    if !details.is_empty() {
        return Err(AppError::validation("The changes are not valid", details));
    }
    if changed.is_empty() {
        return Err(AppError::invalid_field("body", "names no field to change"));
    }
    Ok(Checked {
        first_name,
        last_name,
        date_of_birth,
        mrn,
        phone,
        email,
        changed,
    })
}

/// Change a patient's demographics.
///
/// ADMIN, a CLINICIAN on the patient's care team, or a user with an active emergency
/// (break-the-glass) grant for the patient; BILLING may not (403). A patient the caller may not
/// see answers 404. Audited as `PATIENT_UPDATE` with the names of the changed fields, never
/// their values. The answer shows every field.
#[utoipa::path(
    patch,
    path = "/{id}",
    tag = "patients",
    params(("id" = Uuid, Path, description = "The patient's id")),
    request_body = UpdatePatient,
    responses(
        (status = 200, description = "The patient as changed", body = PatientResponse),
        (status = 409, description = "Another patient of the practice already has this medical record number (`CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn update_patient(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<PatientId>,
    AppJson(body): AppJson<UpdatePatient>,
) -> Result<AppJson<PatientResponse>, AppError> {
    let may = policy::use_patient(&caller, "update_patient", id)?;
    let changes = check(body)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let patient = find_visible(&state, &mut tx, &caller, &meta, &may, id).await?;
    let write = patient.writable(&caller, "update_patient")?;
    let view = match patient.access().view {
        View::Masked => View::Masked,
        _ => View::Full,
    };
    let id = id.as_uuid();
    let key = state.keyring().data_key(&mut tx).await.map_err(phi_error)?;
    let blind = state
        .keyring()
        .blind_key(&mut tx)
        .await
        .map_err(phi_error)?;
    let fields = EncryptedFields {
        first_name: changes
            .first_name
            .as_deref()
            .map(|v| seal(&key, &tx, "first_name", id, v)),
        last_name: changes
            .last_name
            .as_deref()
            .map(|v| seal(&key, &tx, "last_name", id, v)),
        date_of_birth: changes
            .date_of_birth
            .as_deref()
            .map(|v| seal(&key, &tx, "date_of_birth", id, v)),
        medical_record_number: changes
            .mrn
            .as_deref()
            .map(|v| seal(&key, &tx, "medical_record_number", id, v)),
        phone_number: changes
            .phone
            .as_ref()
            .map(|p| p.as_deref().map(|v| seal(&key, &tx, "phone_number", id, v))),
        email: changes
            .email
            .as_ref()
            .map(|e| e.as_deref().map(|v| seal(&key, &tx, "email", id, v))),
        mrn_index: changes
            .mrn
            .as_deref()
            .map(|m| blind.mrn_index("medical_record_number", m)),
        last_name_index: changes
            .last_name
            .as_deref()
            .map(|n| blind.index("last_name", n)),
    };
    let row = patients::update(&mut tx, &write, &fields)
        .await
        .map_err(mrn_conflict)?
        .ok_or_else(AppError::not_found)?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::PatientUpdate)
            .by(caller.actor())
            .with_access_method(write.method())
            .with_entity("patient", id)
            .with_patient(write.patient())
            .with_details(json!({ "fields": changes.changed }))
            .with_request(&meta),
    )
    .await?;
    let patient = to_patient(&state, &mut tx, &row, view).await?;
    tx.commit().await?;
    Ok(AppJson(PatientResponse { patient }))
}
