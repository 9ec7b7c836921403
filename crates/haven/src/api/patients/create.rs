//! `POST /api/patients` (ADMIN).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::codec::{PatientResponse, mrn_conflict, seal, to_patient};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::{Email, MedicalRecordNumber, PersonName, PhoneNumber, parse_date_of_birth};
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::PatientId;
use crate::ids::UserId;
use crate::policy::patients as policy;
use crate::store::patients::{self, EncryptedFields};
use crate::store::users;

/// The request body (the seed documents' shape). Text is trimmed before it is checked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreatePatient {
    /// Given name: 1–100 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*\s*$"
    )]
    first_name: String,
    /// Family name: 1–100 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*\s*$"
    )]
    last_name: String,
    /// Date of birth, `YYYY-MM-DD`: a real date from 1900-01-01 up to today.
    #[schema(format = Date, example = "2015-04-30")]
    date_of_birth: String,
    /// Medical record number: 1–64 letters, digits, `-`, `_`, `.` or `/`; unique within the
    /// practice.
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$", example = "MRN-0042")]
    medical_record_number: String,
    /// Phone number: 7–15 digits, optionally with `+`, spaces, dashes, dots and parentheses (at
    /// most 25 characters).
    #[schema(
        max_length = 25,
        pattern = r"^\s*[+ ().-]*([0-9][+ ().-]*){7,15}\s*$",
        example = "+1 555 010 2233"
    )]
    phone_number: Option<String>,
    /// Email address.
    #[schema(format = Email, max_length = 254)]
    email: Option<String>,
    /// A user of the same practice to link as the patient's portal account.
    user_id: Option<UserId>,
}

/// Checked demographics.
pub(super) struct Demographics {
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub date_of_birth: String,
    pub mrn: MedicalRecordNumber,
    pub phone: Option<PhoneNumber>,
    pub email: Option<Email>,
}

/// The parsed value of `result`, or `None` with its problem noted under `field`.
fn take<T>(details: &mut Details, field: &str, result: Result<T, String>) -> Option<T> {
    result.map_err(|e| details.insert(field.to_owned(), e)).ok()
}

fn check(body: &CreatePatient) -> Result<Demographics, AppError> {
    let mut details = Details::new();
    let d = &mut details;
    let first_name = take(d, "firstName", PersonName::parse(&body.first_name));
    let last_name = take(d, "lastName", PersonName::parse(&body.last_name));
    let date_of_birth = take(
        d,
        "dateOfBirth",
        parse_date_of_birth(&body.date_of_birth).map(|d| d.format("%Y-%m-%d").to_string()),
    );
    let mrn = take(
        d,
        "medicalRecordNumber",
        MedicalRecordNumber::parse(&body.medical_record_number),
    );
    let phone = body
        .phone_number
        .as_deref()
        .map(|p| take(d, "phoneNumber", PhoneNumber::parse(p)));
    let email = body
        .email
        .as_deref()
        .map(|e| take(d, "email", Email::parse(e).map_err(|e| e.to_string())));
    match (first_name, last_name, date_of_birth, mrn, phone, email) {
        (Some(first_name), Some(last_name), Some(date_of_birth), Some(mrn), phone, email)
            if details.is_empty() =>
        {
            Ok(Demographics {
                first_name,
                last_name,
                date_of_birth,
                mrn,
                phone: phone.flatten(),
                email: email.flatten(),
            })
        }
        _ => Err(AppError::validation("The patient is not valid", details)),
    }
}

/// Create a patient.
///
/// ADMIN only. The demographics are encrypted per field; the MRN and last name are indexed for
/// exact look-ups. Audited as `PATIENT_CREATE` (with the patient's id, never the values). The
/// answer shows every field.
#[utoipa::path(
    post,
    path = "/",
    tag = "patients",
    request_body = CreatePatient,
    responses(
        (status = 201, description = "The new patient", body = PatientResponse),
        (status = 409, description = "A patient of the practice already has this medical record number (`CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn create_patient(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<CreatePatient>,
) -> Result<(StatusCode, AppJson<PatientResponse>), AppError> {
    let may = policy::manage(&caller, "create_patient", None)?;
    let new = check(&body)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    if let Some(user) = body.user_id
        && users::find(&mut tx, user).await?.is_none()
    {
        return Err(AppError::invalid_field(
            "userId",
            "is not a user of this organization",
        ));
    }
    let patient_id = PatientId::new();
    let id = patient_id.as_uuid();
    let key = state.keyring().data_key(&mut tx).await.map_err(phi_error)?;
    let blind = state
        .keyring()
        .blind_key(&mut tx)
        .await
        .map_err(phi_error)?;
    let fields = EncryptedFields {
        first_name: Some(seal(&key, &tx, "first_name", id, new.first_name.as_str())),
        last_name: Some(seal(&key, &tx, "last_name", id, new.last_name.as_str())),
        date_of_birth: Some(seal(&key, &tx, "date_of_birth", id, &new.date_of_birth)),
        medical_record_number: Some(seal(
            &key,
            &tx,
            "medical_record_number",
            id,
            new.mrn.as_str(),
        )),
        phone_number: Some(
            new.phone
                .as_ref()
                .map(|p| seal(&key, &tx, "phone_number", id, p.as_str())),
        ),
        email: Some(
            new.email
                .as_ref()
                .map(|e| seal(&key, &tx, "email", id, e.as_str())),
        ),
        mrn_index: Some(blind.mrn_index("medical_record_number", new.mrn.as_str())),
        last_name_index: Some(blind.index("last_name", new.last_name.as_str())),
    };
    let row = patients::insert(&mut tx, &may, patient_id, &fields, body.user_id)
        .await
        .map_err(mrn_conflict)?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::PatientCreate)
            .by(caller.actor())
            .with_access_method(may.method())
            .with_entity("patient", id)
            .with_patient(patient_id)
            .with_request(&meta),
    )
    .await?;
    let patient = to_patient(&state, &mut tx, &row, may.view()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(PatientResponse { patient })))
}

/// A PHI key problem is an internal error: nothing is shown, the cause is logged.
pub(super) fn phi_error(error: crate::phi::PhiError) -> AppError {
    AppError::Internal(anyhow::Error::new(error).context("PHI keys"))
}
