//! Master-key rotation (issue 23): every data, blind-index, signing and checkpoint key re-wrapped
//! under a new master key while Haven runs, both keys accepted meanwhile, resumable after a crash,
//! audited; then Haven runs on the new key alone and everything still opens.
//!
//! - `rotation`: the rotation with data present, in process; the old-key-only instance; legacy
//!   rows without a key id; refusals of the library call.
//! - `secrets`: the deployment secrets (checkpoint, MFA, CSRF, DPoP-nonce keys) keep the bytes
//!   they were derived as, through an upgrade and a rotation; the database's guard on key ids.
//! - `cli`: `haven keys rotate-master` as the runbook runs it: killed midway and rerun; refusals.

mod cli;
mod rotation;
mod secrets;

use axum::http::{Method, StatusCode};
use haven::crypto::{KekId, MasterKey};
use haven::domain::Role;
use haven::phi::{ENCRYPTED_COLUMNS, rotate_data_key};
use haven_testkit::{PASSWORD, TestApp, TestUser};
use serde_json::json;

use crate::fixtures::auth::{code_at, enrol};
use crate::fixtures::notes::{NoteClinic, note_clinic, signed};
use crate::fixtures::patients::create_id;

/// A practice: its admin and its patients' ids with their last names.
pub(super) struct Practice {
    pub(super) admin: TestUser,
    pub(super) patients: Vec<(String, String)>,
}

/// A deployment with something under every kind of wrapped key: three practices with patients
/// (one with a retired data key too), a signed clinical note (an organization signing key), a
/// user enrolled in MFA, sealed and checkpointed audit chains, and tokens signed by the JWT key.
pub(super) struct Deployment {
    pub(super) app: TestApp,
    pub(super) practices: Vec<Practice>,
    pub(super) clinic: NoteClinic,
    pub(super) note: String,
    pub(super) mfa_user: TestUser,
    pub(super) mfa_secret: Vec<u8>,
}

impl Deployment {
    /// The master key it was built under.
    pub(super) fn old_key(&self) -> MasterKey {
        self.app.state().master_key().clone()
    }
}

pub(super) async fn deployment() -> Deployment {
    let app = TestApp::new().await;
    let mut practices = Vec::new();
    for i in 0..3 {
        let admin = app.org_with(&format!("Practice {i}"), Role::Admin).await;
        let mut patients = Vec::new();
        for j in 0..2 {
            let last = format!("Keyholder{i}x{j}");
            let id = create_id(&app, &admin, &format!("MRN-MK-{i}-{j}"), &last).await;
            patients.push((id, last));
        }
        practices.push(Practice { admin, patients });
    }
    rotate_data_key(
        app.state().db(),
        app.state().keyring(),
        practices[0].admin.organization_id,
        100,
        ENCRYPTED_COLUMNS,
    )
    .await
    .expect("a retired data key in the first practice");
    let clinic = note_clinic(&app, "Notes Practice").await;
    let note = signed(&app, &clinic.author, &clinic.patient, "PROGRESS").await;
    let mfa_user = app
        .user_in(practices[1].admin.organization_id, Role::Clinician)
        .await;
    let (mfa_secret, _) = enrol(&app, &mfa_user).await;
    app.state()
        .sealer()
        .flush()
        .await
        .expect("sealed, checkpoints signed");
    Deployment {
        app,
        practices,
        clinic,
        note,
        mfa_user,
        mfa_secret,
    }
}

/// Everything the deployment holds still opens on `app`: every patient decrypts (read with the
/// tokens signed before), the note's signature verifies, the MFA user logs in with the code of
/// `mfa_at`, and every audit chain verifies against its signed checkpoints.
pub(super) async fn everything_opens(app: &TestApp, d: &Deployment, mfa_at: u64) {
    for practice in &d.practices {
        for (id, last) in &practice.patients {
            let read = app
                .get_as(&practice.admin, &format!("/api/patients/{id}"))
                .await;
            assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
            assert_eq!(read.json()["patient"]["lastName"], last.as_str());
        }
    }
    let note = app
        .get_as(&d.clinic.author, &format!("/api/notes/{}", d.note))
        .await;
    assert_eq!(note.status, StatusCode::OK, "{:?}", note.body);
    assert_eq!(note.json()["note"]["signatures"][0]["valid"], true);
    let login = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": d.mfa_user.email, "password": PASSWORD,
                     "mfaCode": code_at(&d.mfa_secret, mfa_at) }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    haven::commands::audit::verify(app.state(), None, None)
        .await
        .expect("every audit chain verifies");
    let verified = app
        .get_as(&d.practices[0].admin, "/api/audit-logs/verify")
        .await;
    assert_eq!(verified.json()["valid"], true, "{:?}", verified.body);
}

/// How many wrapped keys each master key wraps (`None`: no key id recorded).
pub(super) async fn usage(app: &TestApp) -> Vec<(Option<KekId>, i64)> {
    haven::kek::usage(app.state().db()).await.expect("usage")
}
