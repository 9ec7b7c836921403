//! `GET /api/patients`: exact MRN and last-name search, pages, one audit row per patient.

use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::patients::{create_id, patient_ids_audited};

#[tokio::test]
async fn lists_find_exact_mrns_and_last_names_case_insensitively_and_audit_each_patient() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let first = create_id(&app, &admin, "AB-100", "Okonkwo").await;
    let second = create_id(&app, &admin, "AB-200", "Okonkwo").await;
    create_id(&app, &admin, "AB-300", "Nakamura").await;

    let by_name = app
        .get_as(&admin, "/api/patients?lastName=%20OKONKWO%20")
        .await
        .json();
    assert_eq!(by_name["pagination"]["total"], 2);
    let ids: Vec<&str> = by_name["patients"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec![first.as_str(), second.as_str()]);
    let by_mrn = app.get_as(&admin, "/api/patients?mrn=ab-200").await.json();
    assert_eq!(by_mrn["patients"][0]["id"], json!(second));
    let partial = app
        .get_as(&admin, "/api/patients?lastName=Okon")
        .await
        .json();
    assert_eq!(partial["pagination"]["total"], 0, "exact matches only");
    let page = app
        .get_as(&admin, "/api/patients?limit=2&page=2")
        .await
        .json();
    assert_eq!(
        page["pagination"],
        json!({ "page": 2, "limit": 2, "total": 3, "totalPages": 2 })
    );
    let beyond = app
        .get_as(&admin, "/api/patients?limit=2&page=9")
        .await
        .json();
    assert_eq!(
        beyond["patients"],
        json!([]),
        "a page past the end is empty"
    );
    assert_eq!(
        beyond["pagination"]["total"], 3,
        "...and still counts the set"
    );

    let listed = patient_ids_audited(&app, admin.organization_id, "PATIENT_LIST").await;
    assert_eq!(listed.len(), 2 + 1 + 1, "one row per patient returned");
    assert!(listed.contains(&first) && listed.contains(&second));
}
