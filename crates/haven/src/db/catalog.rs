//! The tenancy invariants, read from PostgreSQL's catalog (SPEC §2).
//!
//! They hold for the schema as migrated and must keep holding as migrations are added:
//! [`check_schema`] runs after every `haven migrate` (a violation stops the rollout) and in the
//! test suite, and [`check_runtime_role`] runs when `serve` starts (a runtime role that could
//! bypass row-level security stops it).
//!
//! * every table has row-level security enabled **and forced**, with at least one policy;
//! * a table with `organization_id` (a tenant table) has it NOT NULL, first in its primary key,
//!   in every unique index (but the documented [`GLOBAL_UNIQUE_INDEXES`]) and in every foreign
//!   key; its policies for the app role compare it with `current_organization_id()`;
//! * no policy hands the app role (or PUBLIC) rows without a tenant condition;
//! * every SECURITY DEFINER function pins `search_path` and is not executable by PUBLIC;
//! * the app role is not a superuser, cannot bypass RLS, owns nothing and cannot create objects.

use std::fmt;

use sqlx::PgConnection;

/// Tables without `organization_id` that every tenant's requests may read, with the reason. Their
/// policies need no tenant condition; they must still have RLS enabled, forced and a policy.
pub const PLATFORM_TABLES: &[(&str, &str)] = &[
    (
        "signing_keys",
        "JWT signing keys are the platform's: every request verifies tokens with them",
    ),
    (
        "wrapped_secrets",
        "the deployment's secrets (checkpoint, MFA, CSRF, DPoP-nonce keys), wrapped by the master \
         key: every instance loads them at start",
    ),
];

/// Unique indexes on tenant tables that deliberately span organizations, with the reason.
pub const GLOBAL_UNIQUE_INDEXES: &[(&str, &str)] = &[(
    "users_email_unique",
    "emails are unique across the platform: login finds the account before the tenant is known",
)];

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The table, function or role.
    pub object: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.problem)
    }
}

async fn collect(
    conn: &mut PgConnection,
    sql: &'static str,
    role: Option<&str>,
) -> Result<Vec<Violation>, sqlx::Error> {
    let mut query = sqlx::query_as::<_, (String, String)>(sql);
    if let Some(role) = role {
        query = query.bind(role.to_owned());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    Ok(rows
        .into_iter()
        .map(|(object, problem)| Violation { object, problem })
        .collect())
}

/// Checks the schema of the connected database; `app_role` is the role the grants go to.
pub async fn check_schema(
    conn: &mut PgConnection,
    app_role: &str,
) -> Result<Vec<Violation>, sqlx::Error> {
    let mut violations = Vec::new();
    violations.extend(collect(conn, TABLES_WITHOUT_FORCED_RLS, None).await?);
    violations.extend(collect(conn, TENANT_KEY_PROBLEMS, None).await?);
    let mut unique = collect(conn, UNIQUE_WITHOUT_TENANT, None).await?;
    unique.retain(|v| {
        !GLOBAL_UNIQUE_INDEXES
            .iter()
            .any(|(index, _)| v.object.ends_with(&format!(".{index}")))
    });
    violations.extend(unique);
    violations.extend(collect(conn, FOREIGN_KEYS_WITHOUT_TENANT, None).await?);
    let mut open = collect(conn, OPEN_POLICIES, Some(app_role)).await?;
    open.retain(|v| {
        !PLATFORM_TABLES
            .iter()
            .any(|(table, _)| v.object == format!("public.{table}"))
    });
    violations.extend(open);
    violations.extend(collect(conn, DEFINER_FUNCTIONS, None).await?);
    violations.extend(role_problems(conn, app_role).await?);
    Ok(violations)
}

/// Checks the role this connection logged in as, as the runtime role: not a superuser, no
/// BYPASSRLS, owns nothing, cannot create objects.
pub async fn check_runtime_role(conn: &mut PgConnection) -> Result<Vec<Violation>, sqlx::Error> {
    let role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *conn)
        .await?;
    role_problems(conn, &role).await
}

async fn role_problems(conn: &mut PgConnection, role: &str) -> Result<Vec<Violation>, sqlx::Error> {
    collect(conn, ROLE_PROBLEMS, Some(role)).await
}

// Each catalog query returns (object, problem) rows. Haven's objects live in the schemas
// `public` and `haven_auth`; `_sqlx_migrations` is sqlx's bookkeeping and exempt.

const TABLES_WITHOUT_FORCED_RLS: &str = "
    SELECT format('%I.%I', n.nspname, c.relname), p.problem
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL (VALUES
        (NOT c.relrowsecurity, 'row-level security is not enabled'),
        (NOT c.relforcerowsecurity, 'row-level security is not forced'),
        (NOT EXISTS (SELECT 1 FROM pg_policy pol WHERE pol.polrelid = c.oid), 'has no policy')
    ) AS p(failed, problem)
    WHERE c.relkind IN ('r', 'p')
      AND NOT c.relispartition
      AND n.nspname IN ('public', 'haven_auth')
      AND c.relname <> '_sqlx_migrations'
      AND p.failed
    ORDER BY 1, 2";

/// Tenant tables: organization_id NOT NULL and the first column of the primary key.
const TENANT_KEY_PROBLEMS: &str = "
    WITH tenant AS (
        SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name, a.attnum, a.attnotnull
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND n.nspname IN ('public', 'haven_auth')
    )
    SELECT t.name, 'organization_id is nullable' FROM tenant t WHERE NOT t.attnotnull
    UNION ALL
    SELECT t.name, 'has no primary key' FROM tenant t
    WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = t.oid AND k.contype = 'p')
    UNION ALL
    SELECT t.name, 'organization_id is not the first column of the primary key' FROM tenant t
    JOIN pg_constraint k ON k.conrelid = t.oid AND k.contype = 'p'
    WHERE k.conkey[1] <> t.attnum
    UNION ALL
    SELECT t.name, 'no row-level security policy compares organization_id with current_organization_id()'
    FROM tenant t
    WHERE NOT EXISTS (
        SELECT 1 FROM pg_policy pol
        WHERE pol.polrelid = t.oid
          AND pg_get_expr(pol.polqual, pol.polrelid) LIKE '%organization_id = current_organization_id()%'
    )
    ORDER BY 1, 2";

/// Unique indexes of tenant tables that do not include organization_id.
const UNIQUE_WITHOUT_TENANT: &str = "
    SELECT format('%I.%I', n.nspname, ic.relname),
           format('unique index on %I does not include organization_id', c.relname)
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
    WHERE i.indisunique
      AND n.nspname IN ('public', 'haven_auth')
      AND NOT (a.attnum = ANY (i.indkey::int2[]))
    ORDER BY 1";

/// Foreign keys from a tenant table must carry organization_id, and onto another tenant table
/// must match it with that table's organization_id (or the organization's own id).
const FOREIGN_KEYS_WITHOUT_TENANT: &str = "
    SELECT format('%I.%I', n.nspname, c.relname),
           format('foreign key %I does not carry organization_id', k.conname)
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
    LEFT JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attname = 'organization_id' AND NOT ra.attisdropped
    WHERE k.contype = 'f'
      AND n.nspname IN ('public', 'haven_auth')
      AND NOT (
          a.attnum = ANY (k.conkey)
          AND (
              CASE WHEN ra.attnum IS NULL
                   -- onto the tenant root: organization_id must be the referencing column
                   THEN k.conkey = ARRAY[a.attnum]
                   -- onto a tenant table: organization_id must match organization_id
                   ELSE k.confkey[array_position(k.conkey, a.attnum)] = ra.attnum
              END
          )
      )
    ORDER BY 1, 2";

/// Policies that apply to the app role or PUBLIC without a tenant condition.
const OPEN_POLICIES: &str = "
    SELECT format('%I.%I', n.nspname, c.relname),
           format('policy %I applies to %s without comparing with current_organization_id()',
                  pol.polname, $1::text)
    FROM pg_policy pol
    JOIN pg_class c ON c.oid = pol.polrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE (pol.polroles = ARRAY[0::oid]
           OR EXISTS (SELECT 1 FROM pg_roles r, pg_roles me
                      WHERE r.oid = ANY (pol.polroles) AND me.rolname = $1
                        AND pg_has_role(me.oid, r.oid, 'MEMBER')))
      AND (coalesce(pg_get_expr(pol.polqual, pol.polrelid), '') NOT LIKE '%current_organization_id()%'
           OR (pol.polwithcheck IS NOT NULL
               AND pg_get_expr(pol.polwithcheck, pol.polrelid) NOT LIKE '%current_organization_id()%'))
    ORDER BY 1, 2";

/// SECURITY DEFINER functions must pin search_path and must not be executable by PUBLIC.
const DEFINER_FUNCTIONS: &str = "
    SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), x.problem
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    CROSS JOIN LATERAL (VALUES
        (NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) cfg WHERE cfg LIKE 'search\\_path=%'),
         'SECURITY DEFINER function does not pin search_path'),
        (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) acl
                                     WHERE acl.grantee = 0 AND acl.privilege_type = 'EXECUTE'),
         'SECURITY DEFINER function is executable by PUBLIC')
    ) AS x(failed, problem)
    WHERE p.prosecdef
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND x.failed
    ORDER BY 1, 2";

/// The runtime role: no superuser, no BYPASSRLS, owns nothing here, may create nothing here.
const ROLE_PROBLEMS: &str = "
    SELECT r.rolname::text, x.problem
    FROM pg_roles r
    CROSS JOIN LATERAL (VALUES
        (r.rolsuper, 'is a superuser'),
        (r.rolbypassrls, 'has BYPASSRLS'),
        (r.rolcreaterole OR r.rolcreatedb, 'may create roles or databases'),
        (EXISTS (SELECT 1 FROM pg_shdepend d
                 JOIN pg_database db ON db.oid = d.dbid
                 WHERE d.refobjid = r.oid AND d.deptype = 'o'
                   AND db.datname = current_database())
         OR EXISTS (SELECT 1 FROM pg_database db
                    WHERE db.datname = current_database() AND db.datdba = r.oid),
         'owns objects'),
        (has_database_privilege(r.oid, current_database(), 'CREATE'),
         'may create schemas in the database'),
        (EXISTS (SELECT 1 FROM pg_namespace ns
                 WHERE ns.nspname NOT LIKE 'pg\\_%' AND ns.nspname <> 'information_schema'
                   AND has_schema_privilege(r.oid, ns.oid, 'CREATE')),
         'may create objects in a schema')
    ) AS x(failed, problem)
    WHERE r.rolname = $1 AND x.failed
    UNION ALL
    SELECT $1::text, 'role does not exist'
    WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
    ORDER BY 1, 2";
