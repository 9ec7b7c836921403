//! Tenant transactions under forced row-level security (SPEC §2).

use haven::db::AppPool;
use haven::domain::{Email, Role};
use haven::ids::{OrganizationId, UserId};
use haven_testkit::TestDb;
use sqlx::{Connection, PgConnection};

struct TwoTenants {
    db: TestDb,
    org_a: OrganizationId,
    org_b: OrganizationId,
    alice: UserId,
    bob: UserId,
}

async fn two_tenants() -> TwoTenants {
    let db = TestDb::new().await;
    let org_a = db.create_organization("Practice A").await;
    let org_b = db.create_organization("Practice B").await;
    let alice = db
        .create_user(org_a, Role::Admin, "alice@a.example.org")
        .await;
    let bob = db
        .create_user(org_b, Role::Clinician, "bob@b.example.org")
        .await;
    TwoTenants {
        db,
        org_a,
        org_b,
        alice,
        bob,
    }
}

#[tokio::test]
async fn a_query_without_where_sees_only_its_own_tenant() {
    let t = two_tenants().await;
    let pool = t.db.app_pool().await;

    let mut tx = pool
        .begin_tenant(t.org_a, Some(t.alice))
        .await
        .expect("begin");
    // Deliberately no WHERE clause: only RLS stands between org A and org B here.
    let users: Vec<UserId> = sqlx::query_scalar("SELECT id FROM users")
        .fetch_all(tx.conn())
        .await
        .expect("select");
    let orgs: Vec<OrganizationId> = sqlx::query_scalar("SELECT id FROM organizations")
        .fetch_all(tx.conn())
        .await
        .expect("select");
    tx.commit().await.expect("commit");

    assert_eq!(users, vec![t.alice]);
    assert_eq!(orgs, vec![t.org_a]);
}

#[tokio::test]
async fn a_tenant_cannot_write_rows_of_another_tenant() {
    let t = two_tenants().await;
    let pool = t.db.app_pool().await;
    let mut tx = pool
        .begin_tenant(t.org_a, Some(t.alice))
        .await
        .expect("begin");

    let updated = sqlx::query("UPDATE users SET first_name = 'Mallory' WHERE id = $1")
        .bind(t.bob)
        .execute(tx.conn())
        .await
        .expect("update runs")
        .rows_affected();
    assert_eq!(updated, 0, "org B's row is invisible, so untouched");

    let insert = sqlx::query(
        "INSERT INTO users (organization_id, id, email, password_hash, role, first_name, last_name) \
         VALUES ($1, $2, 'planted@b.example.org', '!', 'ADMIN', 'Planted', 'User')",
    )
    .bind(t.org_b)
    .bind(UserId::new())
    .execute(tx.conn())
    .await;
    let error = insert.expect_err("WITH CHECK refuses a row of another tenant");
    assert!(error.to_string().contains("row-level security"), "{error}");
}

#[tokio::test]
async fn after_commit_the_pooled_connection_carries_no_tenant() {
    let t = two_tenants().await;
    // A single connection, so the second transaction reuses the first one's.
    let pool = AppPool::connect(t.db.app_options(), 1).await.expect("pool");

    let mut tx = pool
        .begin_tenant(t.org_a, Some(t.alice))
        .await
        .expect("begin");
    let first_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(tx.conn())
        .await
        .expect("pid");
    tx.commit().await.expect("commit");

    let mut tx = pool.begin_tenant(t.org_b, None).await.expect("begin");
    let (second_pid, user, org): (i32, String, String) = sqlx::query_as(
        "SELECT pg_backend_pid(), current_setting('app.current_user_id', true), \
                current_setting('app.current_organization_id', true)",
    )
    .fetch_one(tx.conn())
    .await
    .expect("settings");
    tx.rollback().await.expect("rollback");

    assert_eq!(
        first_pid, second_pid,
        "the pool handed out the same connection"
    );
    assert_eq!(
        user, "",
        "org A's user did not leak into the next transaction"
    );
    assert_eq!(org, t.org_b.to_string());
}

#[tokio::test]
async fn a_reused_connection_outside_a_tenant_transaction_sees_nothing() {
    let t = two_tenants().await;
    let mut conn = PgConnection::connect_with(&t.db.app_options())
        .await
        .expect("conn");
    // Set a tenant in a transaction, then leave it: the setting becomes '' on this session.
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("SELECT set_config('app.current_organization_id', $1, true)")
        .bind(t.org_a.to_string())
        .execute(&mut *tx)
        .await
        .expect("set");
    tx.commit().await.expect("commit");

    let setting: String =
        sqlx::query_scalar("SELECT current_setting('app.current_organization_id', true)")
            .fetch_one(&mut conn)
            .await
            .expect("setting");
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut conn)
        .await
        .expect("count runs, no cast error on ''");

    assert_eq!(setting, "");
    assert_eq!(visible, 0);
}

#[tokio::test]
async fn with_no_tenant_set_a_query_sees_zero_rows() {
    let t = two_tenants().await;
    let mut conn = PgConnection::connect_with(&t.db.app_options())
        .await
        .expect("conn");

    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
        .fetch_one(&mut conn)
        .await
        .expect("count");

    assert_eq!((users, orgs), (0, 0));
}

#[tokio::test]
async fn the_login_look_up_finds_a_user_of_any_tenant_case_insensitively() {
    let t = two_tenants().await;
    let pool = t.db.app_pool().await;

    let email = Email::parse("BOB@B.Example.org").expect("email");
    let found = pool
        .pre_auth()
        .find_login_user(&email)
        .await
        .expect("look-up")
        .expect("bob exists");

    assert_eq!(found.user_id, t.bob);
    assert_eq!(found.organization_id, t.org_b);
    assert_eq!(found.role, Role::Clinician);
    assert!(!found.disabled);
    let nobody = Email::parse("nobody@example.org").expect("email");
    assert!(
        pool.pre_auth()
            .find_login_user(&nobody)
            .await
            .expect("look-up")
            .is_none()
    );
}

#[tokio::test]
async fn emails_are_unique_across_tenants_case_insensitively() {
    let t = two_tenants().await;
    let owner = t.db.owner_pool().await;

    let duplicate = sqlx::query(
        "INSERT INTO users (organization_id, id, email, password_hash, role, first_name, last_name) \
         VALUES ($1, $2, 'ALICE@a.example.org', '!', 'BILLING', 'Other', 'Alice')",
    )
    .bind(t.org_b)
    .bind(UserId::new())
    .execute(&owner)
    .await;

    let error = duplicate.expect_err("duplicate email refused");
    assert!(error.to_string().contains("users_email_unique"), "{error}");
}

#[tokio::test]
async fn super_admins_live_only_in_the_platform_organization() {
    let t = two_tenants().await;
    let owner = t.db.owner_pool().await;

    let misplaced = sqlx::query(
        "INSERT INTO users (organization_id, id, email, password_hash, role, first_name, last_name) \
         VALUES ($1, $2, 'root@a.example.org', '!', 'SUPER_ADMIN', 'Root', 'User')",
    )
    .bind(t.org_a)
    .bind(UserId::new())
    .execute(&owner)
    .await;

    let error = misplaced.expect_err("a practice cannot hold a SUPER_ADMIN");
    assert!(
        error.to_string().contains("users_super_admin_in_platform"),
        "{error}"
    );
}
