//! The catalog invariants of SPEC §2: they hold for the migrated schema, and they catch a
//! migration that forgets one (shown on scratch databases).

use haven::db::APP_ROLE;
use haven::db::catalog::{Violation, check_runtime_role, check_schema};
use haven_testkit::TestDb;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

async fn owner(db: &TestDb) -> PgConnection {
    PgConnection::connect_with(&db.owner_options())
        .await
        .expect("owner connection")
}

/// Runs `ddl` as the owner on a fresh database and returns what the check reports.
async fn violations_after(ddl: &'static str) -> Vec<Violation> {
    let db = TestDb::new().await;
    let mut conn = owner(&db).await;
    sqlx::raw_sql(ddl)
        .execute(&mut conn)
        .await
        .expect("scratch DDL");
    check_schema(&mut conn, APP_ROLE).await.expect("check runs")
}

fn reported(violations: &[Violation], object: &str, problem: &str) -> bool {
    violations
        .iter()
        .any(|v| v.object == object && v.problem.contains(problem))
}

#[tokio::test]
async fn the_migrated_schema_keeps_every_invariant() {
    let db = TestDb::new().await;
    let mut conn = owner(&db).await;

    let violations = check_schema(&mut conn, APP_ROLE).await.expect("check runs");

    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test]
async fn the_runtime_role_cannot_bypass_rls() {
    let db = TestDb::new().await;
    let mut app = PgConnection::connect_with(&db.app_options())
        .await
        .expect("app connection");

    let violations = check_runtime_role(&mut app).await.expect("check runs");

    assert!(violations.is_empty(), "{violations:#?}");
    let (is_super, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut app)
            .await
            .expect("role");
    assert!(!is_super && !bypass);
}

#[tokio::test]
async fn a_table_without_rls_is_caught() {
    let v = violations_after(
        "CREATE TABLE probe_notes (organization_id uuid NOT NULL, id uuid, PRIMARY KEY (organization_id, id))",
    )
    .await;

    assert!(
        reported(
            &v,
            "public.probe_notes",
            "row-level security is not enabled"
        ),
        "{v:#?}"
    );
    assert!(
        reported(&v, "public.probe_notes", "row-level security is not forced"),
        "{v:#?}"
    );
    assert!(
        reported(&v, "public.probe_notes", "has no policy"),
        "{v:#?}"
    );
}

#[tokio::test]
async fn rls_enabled_but_not_forced_is_caught() {
    let v = violations_after(
        "CREATE TABLE probe_notes (organization_id uuid NOT NULL, id uuid, PRIMARY KEY (organization_id, id));
         ALTER TABLE probe_notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY probe_notes_tenant ON probe_notes USING (organization_id = current_organization_id());",
    )
    .await;

    assert!(reported(&v, "public.probe_notes", "not forced"), "{v:#?}");
    assert!(!reported(&v, "public.probe_notes", "not enabled"), "{v:#?}");
}

#[tokio::test]
async fn a_tenant_table_keyed_without_organization_id_is_caught() {
    let v = violations_after(
        "CREATE TABLE probe_notes (organization_id uuid, id uuid PRIMARY KEY, code text UNIQUE);
         ALTER TABLE probe_notes ENABLE ROW LEVEL SECURITY;
         ALTER TABLE probe_notes FORCE ROW LEVEL SECURITY;
         CREATE POLICY probe_notes_tenant ON probe_notes USING (organization_id = current_organization_id());",
    )
    .await;

    assert!(
        reported(&v, "public.probe_notes", "organization_id is nullable"),
        "{v:#?}"
    );
    assert!(
        reported(
            &v,
            "public.probe_notes",
            "not the first column of the primary key"
        ),
        "{v:#?}"
    );
    assert!(
        reported(
            &v,
            "public.probe_notes_code_key",
            "does not include organization_id"
        ),
        "{v:#?}"
    );
}

#[tokio::test]
async fn a_foreign_key_that_drops_organization_id_is_caught() {
    let v = violations_after(
        "CREATE TABLE probe_notes (
             organization_id uuid NOT NULL REFERENCES organizations (id),
             id uuid NOT NULL,
             author_id uuid NOT NULL,
             PRIMARY KEY (organization_id, id)
         );
         CREATE UNIQUE INDEX users_id_only ON users (id);
         ALTER TABLE probe_notes ADD CONSTRAINT probe_notes_author FOREIGN KEY (author_id) REFERENCES users (id);
         ALTER TABLE probe_notes ENABLE ROW LEVEL SECURITY;
         ALTER TABLE probe_notes FORCE ROW LEVEL SECURITY;
         CREATE POLICY probe_notes_tenant ON probe_notes USING (organization_id = current_organization_id());",
    )
    .await;

    assert!(
        reported(&v, "public.probe_notes", "foreign key probe_notes_author"),
        "{v:#?}"
    );
    // The key onto the tenant root is fine, and so is the table otherwise.
    assert!(
        !reported(&v, "public.probe_notes", "probe_notes_organization_id_fkey"),
        "{v:#?}"
    );
    assert!(
        reported(
            &v,
            "public.users_id_only",
            "does not include organization_id"
        ),
        "{v:#?}"
    );
}

#[tokio::test]
async fn a_policy_that_opens_every_row_to_the_app_is_caught() {
    let v = violations_after("CREATE POLICY users_all ON users TO haven_app USING (true)").await;

    assert!(reported(&v, "public.users", "policy users_all"), "{v:#?}");
}

#[tokio::test]
async fn a_security_definer_function_without_pinned_search_path_is_caught() {
    let v = violations_after(
        "CREATE FUNCTION haven_auth.leaky() RETURNS bigint LANGUAGE sql SECURITY DEFINER
         AS $$ SELECT count(*) FROM public.users $$;",
    )
    .await;

    assert!(
        reported(&v, "haven_auth.leaky()", "does not pin search_path"),
        "{v:#?}"
    );
    assert!(
        reported(&v, "haven_auth.leaky()", "executable by PUBLIC"),
        "{v:#?}"
    );
}

#[tokio::test]
async fn a_runtime_role_that_could_bypass_rls_is_caught() {
    let db = TestDb::new().await;
    let mut su = PgConnection::connect_with(&db.superuser_options())
        .await
        .expect("superuser");
    // A role of its own: roles are cluster-wide, and other tests use haven_app concurrently.
    let role = format!("haven_bad_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN BYPASSRLS; \
         CREATE TABLE owned_by_bad (id int); ALTER TABLE owned_by_bad OWNER TO {role}; \
         GRANT CREATE ON SCHEMA public TO {role};"
    )))
    .execute(&mut su)
    .await
    .expect("set up a bad role");

    let violations = check_schema(&mut su, &role).await.expect("check runs");

    for problem in [
        "has BYPASSRLS",
        "owns objects",
        "may create objects in a schema",
    ] {
        assert!(
            reported(&violations, &role, problem),
            "{problem}: {violations:#?}"
        );
    }
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP TABLE owned_by_bad; REVOKE CREATE ON SCHEMA public FROM {role}; DROP ROLE {role};"
    )))
    .execute(&mut su)
    .await
    .expect("clean up the role");
}

#[tokio::test]
async fn only_the_app_role_may_call_the_pre_auth_functions() {
    let db = TestDb::new().await;
    let mut su = PgConnection::connect_with(&db.superuser_options())
        .await
        .expect("superuser");

    let (app, public): (bool, bool) = sqlx::query_as(
        "SELECT has_function_privilege('haven_app', 'haven_auth.find_login_user(text)', 'EXECUTE'), \
                EXISTS (SELECT 1 FROM pg_proc p, aclexplode(p.proacl) a \
                        WHERE p.proname = 'find_login_user' AND a.grantee = 0)",
    )
    .fetch_one(&mut su)
    .await
    .expect("privileges");

    assert!(app);
    assert!(!public);
}
