//! PHI at rest: nothing readable in the database's files, and ciphertext bound to its place.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::fixtures::at_rest::files_containing;

#[tokio::test]
async fn no_plaintext_phi_reaches_the_database_files() {
    let app = TestApp::new().await;
    let Some(data_dir) = app.db().cluster_data_dir() else {
        haven_testkit::services::unavailable(
            "no_plaintext_phi_reaches_the_database_files",
            "the private test cluster's data files",
            &"HAVEN_TEST_DATABASE_URL points at a server whose files are not ours",
        );
        return;
    };
    let admin = app.org_with("Practice A", Role::Admin).await;
    let marker = format!("Zq{}", uuid::Uuid::new_v4().simple());
    let created = app
        .json_as(
            &admin,
            Method::POST,
            "/api/patients",
            &json!({
                "firstName": format!("{marker}first"),
                "lastName": format!("{marker}last"),
                "dateOfBirth": "2012-07-01",
                "medicalRecordNumber": format!("{marker}mrn"),
                "phoneNumber": "+1 555 010 4321",
                "email": format!("{marker}@example.org"),
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json()["patient"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let updated = app
        .json_as(
            &admin,
            Method::PATCH,
            &format!("/api/patients/{id}"),
            &json!({ "lastName": format!("{marker}renamed") }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(
        app.get_as(&admin, &format!("/api/patients?lastName={marker}renamed"))
            .await
            .json()["pagination"]["total"],
        1
    );

    // Push everything to disk: table files, WAL, the server log.
    let mut su = PgConnection::connect_with(&app.db().superuser_options())
        .await
        .expect("superuser");
    sqlx::query("CHECKPOINT")
        .execute(&mut su)
        .await
        .expect("checkpoint");
    sqlx::query("SELECT pg_switch_wal()")
        .execute(&mut su)
        .await
        .expect("switch wal");

    let hits = files_containing(data_dir, marker.as_bytes());
    assert!(hits.is_empty(), "plaintext PHI found in {hits:?}");
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_patient_does_not_decrypt_and_nothing_leaks() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let mut ids = Vec::new();
    for (mrn, last) in [("M-1", "Source"), ("M-2", "Target")] {
        let created = app
            .json_as(&admin, Method::POST, "/api/patients", &json!({
                "firstName": "Robin", "lastName": last, "dateOfBirth": "2014-01-01", "medicalRecordNumber": mrn,
            }))
            .await;
        ids.push(
            created.json()["patient"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let mut su = PgConnection::connect_with(&app.db().superuser_options())
        .await
        .expect("superuser");
    sqlx::query(
        "UPDATE patients SET last_name = (SELECT last_name FROM patients WHERE id = $1::uuid) WHERE id = $2::uuid",
    )
    .bind(&ids[0])
    .bind(&ids[1])
    .execute(&mut su)
    .await
    .expect("copy a ciphertext to another row");

    let read = app
        .get_as(&admin, &format!("/api/patients/{}", ids[1]))
        .await;

    assert_eq!(
        read.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "fails closed"
    );
    assert!(!String::from_utf8_lossy(&read.body).contains("Source"));
    assert_eq!(
        app.get_as(&admin, &format!("/api/patients/{}", ids[0]))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn rotating_the_data_key_re_encrypts_every_patient_field_and_reads_carry_on() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let created = app
            .json_as(&admin, Method::POST, "/api/patients", &json!({
                "firstName": "Kit", "lastName": format!("Rotate{i}"), "dateOfBirth": "2011-11-11",
                "medicalRecordNumber": format!("R-{i}"), "email": "kit@example.org",
            }))
            .await;
        ids.push(
            created.json()["patient"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let owner = app.db().owner_pool().await;
    let key_of = |column: &'static str| {
        let owner = owner.clone();
        async move {
            let sql = format!(
                "SELECT DISTINCT substring({column} from 2 for 16) FROM patients WHERE {column} IS NOT NULL"
            );
            sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(sql))
                .fetch_all(&owner)
                .await
                .expect("keys")
        }
    };
    let before = key_of("last_name").await;
    assert_eq!(before.len(), 1);

    let fields = haven::phi::rotate_data_key(
        app.state().db(),
        app.state().keyring(),
        admin.organization_id,
        3,
        haven::phi::ENCRYPTED_COLUMNS,
    )
    .await
    .expect("rotate");

    assert_eq!(
        fields,
        7 * 5,
        "first, last, birth date, MRN and email of seven patients"
    );
    for column in [
        "first_name",
        "last_name",
        "date_of_birth",
        "medical_record_number",
        "email",
    ] {
        let after = key_of(column).await;
        assert_eq!(after.len(), 1, "{column}: one key");
        assert_ne!(after, before, "{column}: the new key");
    }
    for id in &ids {
        assert_eq!(
            app.get_as(&admin, &format!("/api/patients/{id}"))
                .await
                .status,
            StatusCode::OK
        );
    }
    let found = app.get_as(&admin, "/api/patients?mrn=r-3").await.json();
    assert_eq!(
        found["pagination"]["total"], 1,
        "blind indexes survive the rotation"
    );
}
