//! What the trail holds: every account event of a full workflow, and none of its secrets.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven_testkit::TestApp;
use serde_json::json;

fn totp_now(base32: &str) -> String {
    let secret = totp_rs::Secret::try_from_base32(base32).expect("base32");
    let now = u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970");
    totp_rs::Builder::new()
        .with_secret(secret.as_bytes().to_vec())
        .build()
        .expect("totp")
        .generate(now)
        .to_string()
}

#[tokio::test]
async fn a_full_workflow_is_audited_without_any_secret_in_the_trail() {
    let app = TestApp::new().await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;
    let admin_password = "zebra-quartz-admin-secret-8812";
    let created = app
        .json_as(&operator, Method::POST, "/api/admin/organizations", &json!({
            "name": "Marker Practice", "adminEmail": "lead@marker.example.org",
            "adminPassword": admin_password, "adminFirstName": "Quillon", "adminLastName": "Vexmoor",
        }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let login = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": "lead@marker.example.org", "password": admin_password }),
        )
        .await
        .json();
    let token = login["token"].as_str().expect("token").to_owned();
    let refresh_token = login["refreshToken"].as_str().expect("refresh").to_owned();
    let org: OrganizationId =
        serde_json::from_value(login["user"]["organizationId"].clone()).expect("org");
    let admin = haven_testkit::TestUser {
        id: serde_json::from_value(login["user"]["id"].clone()).expect("id"),
        organization_id: org,
        role: Role::Admin,
        email: "lead@marker.example.org".into(),
        token: token.clone(),
        refresh_token: refresh_token.clone(),
    };
    let user_password = "violet-harbor-user-secret-4471";
    let new_user = app
        .json_as(
            &admin,
            Method::POST,
            "/api/users",
            &json!({
                "email": "staff@marker.example.org", "password": user_password, "role": "CLINICIAN",
                "firstName": "Ostrander", "lastName": "Pellwick",
            }),
        )
        .await
        .json();
    let staff_id = new_user["user"]["id"].as_str().expect("id").to_owned();
    app.json_as(
        &admin,
        Method::PATCH,
        &format!("/api/users/{staff_id}"),
        &json!({ "role": "BILLING" }),
    )
    .await;
    app.json(
        Method::POST,
        "/api/auth/login",
        &json!({ "email": "staff@marker.example.org", "password": "wrong-marker-guess-5150" }),
    )
    .await;
    let rotated = app
        .json(
            Method::POST,
            "/api/auth/refresh",
            &json!({ "refreshToken": refresh_token }),
        )
        .await
        .json();
    app.json(
        Method::POST,
        "/api/auth/refresh",
        &json!({ "refreshToken": refresh_token }),
    )
    .await;
    // The reuse revoked that session, and its access tokens with it: the workflow goes on in a
    // new one.
    let relogin = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": "lead@marker.example.org", "password": admin_password }),
        )
        .await
        .json();
    let admin = haven_testkit::TestUser {
        token: relogin["token"].as_str().expect("token").to_owned(),
        refresh_token: relogin["refreshToken"]
            .as_str()
            .expect("refresh")
            .to_owned(),
        ..admin
    };
    let setup = app
        .json_as(&admin, Method::POST, "/api/auth/mfa/setup", &json!({}))
        .await
        .json();
    let secret = setup["secret"].as_str().expect("secret").to_owned();
    let confirm = app
        .json_as(
            &admin,
            Method::POST,
            "/api/auth/mfa/confirm",
            &json!({ "code": totp_now(&secret) }),
        )
        .await
        .json();
    let backup_codes: Vec<String> = confirm["backupCodes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    let new_password = "saffron-glacier-changed-9034";
    app.json_as(
        &admin,
        Method::POST,
        "/api/auth/password",
        &json!({ "currentPassword": admin_password, "newPassword": new_password }),
    )
    .await;
    app.json_as(&admin, Method::POST, "/api/auth/logout", &json!({}))
        .await;

    let actions: Vec<String> = app
        .audit_events(org)
        .await
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    for expected in [
        "ORGANIZATION_CREATE",
        "USER_CREATE",
        "LOGIN_SUCCESS",
        "LOGIN_FAILURE",
        "ROLE_CHANGE",
        "USER_UPDATE",
        "TOKEN_REFRESH",
        "REFRESH_TOKEN_REUSE",
        "MFA_ENABLED",
        "PASSWORD_CHANGE",
        "LOGOUT",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }

    let owner = app.db().owner_pool().await;
    let trail: Vec<String> = sqlx::query_scalar(
        "SELECT row_to_json(a)::text FROM audit_log a UNION ALL SELECT row_to_json(o)::text FROM audit_outbox o",
    )
    .fetch_all(&owner)
    .await
    .expect("trail");
    let trail = trail.join("\n");
    let mut secrets = vec![
        admin_password.to_owned(),
        user_password.to_owned(),
        new_password.to_owned(),
        "wrong-marker-guess-5150".to_owned(),
        token,
        refresh_token,
        admin.token.clone(),
        admin.refresh_token.clone(),
        rotated["refreshToken"]
            .as_str()
            .expect("rotated")
            .to_owned(),
        secret,
        "Quillon".into(),
        "Vexmoor".into(),
        "Ostrander".into(),
        "Pellwick".into(),
    ];
    secrets.extend(backup_codes);
    for secret in &secrets {
        assert!(
            !trail.contains(secret.as_str()),
            "the audit trail contains {secret:.12}…"
        );
    }
    assert!(trail.len() > 1000, "the trail is not empty");
}
