//! Seed 002's staging validation of break-the-glass, step by step, against the real binary:
//! create a patient, grant emergency access, use it, find the audit entries, the SECURITY lines
//! on stdout and the webhook deliveries, list active grants, revoke, see none active, and the
//! access gone.

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::fixtures::binary::{call, scratch_dir, start_with, stop};
use crate::fixtures::webhook::receiver;

const JUSTIFICATION: &str = "STAGING TEST: Validating BTG emergency access system for deployment verification and CloudWatch alerting";

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn the_seed_002_staging_validation_passes_against_the_binary() {
    let hook = receiver(0).await;
    let root = scratch_dir();
    let operator_password = "orchid-lantern-operator-5521";
    let running = start_with(
        &root.join("data"),
        &[
            ("HAVEN_BOOTSTRAP_EMAIL", "ops@haven.test"),
            ("HAVEN_BOOTSTRAP_PASSWORD", operator_password),
            ("HAVEN_SECURITY_WEBHOOK_URL", hook.url.as_str()),
        ],
    )
    .await;
    let at = running.address.clone();
    let send = |method: &'static str, path: String, token: Option<String>, body: Option<Value>| {
        let at = at.clone();
        async move { call(&at, method, &path, token.as_deref(), body.as_ref()).await }
    };
    let login = |email: &'static str, password: &'static str| {
        let send = &send;
        async move {
            let body = json!({ "email": email, "password": password });
            let (status, text) = send("POST", "/api/auth/login".into(), None, Some(body)).await;
            assert_eq!(status, 200, "{text}");
            parse(&text)["token"].as_str().expect("token").to_owned()
        }
    };

    // Set-up: a practice with its admin, and a clinician who is on nobody's care team.
    let operator = login("ops@haven.test", operator_password).await;
    let (status, text) = send("POST", "/api/admin/organizations".into(), Some(operator), Some(json!({
        "name": "Staging Practice", "adminEmail": "lead@staging.example.org",
        "adminPassword": "marble-fjord-admin-8830", "adminFirstName": "Dana", "adminLastName": "Reyes",
    }))).await;
    assert_eq!(status, 201, "{text}");
    let admin = login("lead@staging.example.org", "marble-fjord-admin-8830").await;
    let (status, text) = send(
        "POST",
        "/api/users".into(),
        Some(admin.clone()),
        Some(json!({
            "email": "oncall@staging.example.org", "password": "quartz-meadow-clinic-7741",
            "role": "CLINICIAN", "firstName": "Sam", "lastName": "Okafor",
        })),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let clinician_id = parse(&text)["user"]["id"].as_str().expect("id").to_owned();
    let clinician = login("oncall@staging.example.org", "quartz-meadow-clinic-7741").await;

    // Step 2: the test patient.
    let (status, text) = send(
        "POST",
        "/api/patients".into(),
        Some(admin.clone()),
        Some(json!({
            "firstName": "Test", "lastName": "Patient", "dateOfBirth": "1990-01-01",
            "medicalRecordNumber": "TEST-BTG-001", "phoneNumber": "555-0100",
        })),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let patient = parse(&text)["patient"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let patient_path = format!("/api/patients/{patient}");
    assert_eq!(
        send("GET", patient_path.clone(), Some(clinician.clone()), None)
            .await
            .0,
        404
    );

    // Step 3: the grant.
    let (status, text) = send(
        "POST",
        "/api/admin/btg/grants".into(),
        Some(admin.clone()),
        Some(json!({
            "grantedToUserId": clinician_id, "patientId": patient,
            "justification": JUSTIFICATION, "durationMinutes": 60,
        })),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let created = parse(&text);
    assert_eq!(created["success"], true);
    assert!(created["expiresAt"].is_string() && created["message"].is_string());
    let grant = created["grantId"].as_str().expect("grantId").to_owned();

    // Step 5: the grant in use.
    let (status, text) = send("GET", patient_path.clone(), Some(clinician.clone()), None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        parse(&text)["patient"]["medicalRecordNumber"],
        "TEST-BTG-001"
    );
    let (status, text) = send(
        "GET",
        "/api/audit-logs?action=BTG_USE_ACCESS".into(),
        Some(admin.clone()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let uses = parse(&text)["auditLogs"].clone();
    assert_eq!(uses.as_array().map(Vec::len), Some(1), "{uses}");
    assert_eq!(uses[0]["accessMethod"], "break_the_glass");
    assert_eq!(uses[0]["details"]["grantId"], grant.as_str());
    assert_eq!(uses[0]["userId"], clinician_id.as_str());
    let (_, text) = send(
        "GET",
        "/api/audit-logs?action=BTG_GRANT_ACCESS".into(),
        Some(admin.clone()),
        None,
    )
    .await;
    assert_eq!(parse(&text)["pagination"]["total"], 1);

    // Step 6: the active list, with users and patient.
    let active = "/api/admin/btg/grants?status=active".to_owned();
    let (status, text) = send("GET", active.clone(), Some(admin.clone()), None).await;
    assert_eq!(status, 200, "{text}");
    let listed = parse(&text);
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["grants"][0]["id"], grant.as_str());
    assert_eq!(
        listed["grants"][0]["grantedByUser"]["email"],
        "lead@staging.example.org"
    );
    assert_eq!(
        listed["grants"][0]["grantedToUser"]["id"],
        clinician_id.as_str()
    );
    assert_eq!(listed["grants"][0]["patient"]["lastName"], "Patient");

    // Step 7: revoke; nothing active; the access is gone.
    let (status, text) = send(
        "POST",
        format!("/api/admin/btg/grants/{grant}/revoke"),
        Some(admin.clone()),
        Some(json!({ "reason": "STAGING TEST: Validation completed successfully" })),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        parse(&text),
        json!({ "success": true, "message": "Emergency access revoked successfully" })
    );
    let (_, text) = send("GET", active, Some(admin.clone()), None).await;
    assert_eq!(parse(&text)["count"], 0);
    assert_eq!(
        send("GET", patient_path, Some(clinician), None).await.0,
        404
    );
    let (_, text) = send(
        "GET",
        "/api/audit-logs?action=BTG_REVOKE_ACCESS".into(),
        Some(admin),
        None,
    )
    .await;
    assert_eq!(parse(&text)["pagination"]["total"], 1);

    // Step 4's alarms: one SECURITY line each on stdout, and the same JSON at the webhook.
    let delivered = hook.wait_for(3).await;
    let stdout = running.stdout.clone();
    assert_eq!(stop(running, Signal::SIGTERM).await, Some(0));
    let stdout = stdout.lock().expect("lock").clone();
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["level"] == "SECURITY")
        .collect();
    let seen: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap_or(""),
                l["severity"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("BTG_GRANT_ACCESS", "CRITICAL"),
            ("BTG_USE_ACCESS", "HIGH"),
            ("BTG_REVOKE_ACCESS", "MEDIUM"),
        ]
    );
    for line in &lines {
        assert_eq!(line["grantId"], grant.as_str());
        assert_eq!(line["patientId"], patient.as_str());
        assert_eq!(line["userId"], clinician_id.as_str());
        assert_eq!(line["justification"], JUSTIFICATION);
    }
    assert_eq!(delivered, lines, "the webhook got the same events");
    assert!(
        !stdout.contains("TEST-BTG-001") && !stdout.contains("555-0100"),
        "no PHI on stdout"
    );
    std::fs::remove_dir_all(root).expect("cleanup");
}
