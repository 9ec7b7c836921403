//! `PATCH /api/patients/{id}` (ADMIN; CLINICIAN on the care team).

use axum::extract::State;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use uuid::Uuid;

use super::codec::{mrn_conflict, seal, to_json};
use super::create::phi_error;
use super::lookup::{find_visible, refuse};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::{Email, parse_date_of_birth, parse_mrn, parse_name, parse_phone};
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::policy::{self, View};
use crate::store::patients::{self, EncryptedFields};

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`: clear it).
fn nullable<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// The request body; absent fields stay as they are, `null` clears phone and email.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdatePatient {
    first_name: Option<String>,
    last_name: Option<String>,
    date_of_birth: Option<String>,
    medical_record_number: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    phone_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
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
    let first_name = take("firstName", body.first_name.map(|n| parse_name(&n, 100)));
    let last_name = take("lastName", body.last_name.map(|n| parse_name(&n, 100)));
    let date_of_birth = take(
        "dateOfBirth",
        body.date_of_birth
            .map(|d| parse_date_of_birth(&d).map(|d| d.format("%Y-%m-%d").to_string())),
    );
    let mrn = take(
        "medicalRecordNumber",
        body.medical_record_number.map(|m| parse_mrn(&m)),
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
    let phone = nullable_field("phoneNumber", body.phone_number, parse_phone);
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

/// `PATCH /api/patients/{id}` → `{patient}`.
pub async fn update_patient(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<UpdatePatient>,
) -> Result<AppJson<Value>, AppError> {
    if !policy::may_use_patients(&caller) {
        return Err(refuse(&state, &caller, &meta, "update_patient", Some(id)).await);
    }
    let changes = check(body)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (_, access) = find_visible(&state, &mut tx, &caller, &meta, id).await?;
    if !access.can_update {
        tx.rollback().await?;
        return Err(refuse(&state, &caller, &meta, "update_patient", Some(id)).await);
    }
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
    let row = patients::update(&mut tx, id, &fields)
        .await
        .map_err(mrn_conflict)?
        .ok_or_else(AppError::not_found)?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::PatientUpdate)
            .with_actor(caller.user_id, caller.role)
            .with_access_method(access.method)
            .with_entity("patient", id)
            .with_patient(id)
            .with_details(json!({ "fields": changes.changed }))
            .with_request(&meta),
    )
    .await?;
    let patient = to_json(&state, &mut tx, &row, View::Full).await?;
    tx.commit().await?;
    Ok(AppJson(json!({ "patient": patient })))
}
