//! Creating Haven's roles and database in a cluster Haven runs itself (embedded mode, the test
//! harness), connected as that cluster's superuser. External deployments create them their own
//! way (see the README).

use sqlx::{AssertSqlSafe, PgConnection};

use super::{APP_ROLE, OWNER_ROLE};

/// Quotes an SQL identifier.
#[must_use]
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates the owner and app login roles when missing. Neither may bypass row-level security;
/// the app role also may not create anything. The migrations may have created `haven_app`
/// NOLOGIN already (external databases); here it is made a login role.
pub async fn ensure_roles(superuser: &mut PgConnection) -> Result<(), sqlx::Error> {
    let statement = format!(
        "DO $$
         BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
                 CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
             END IF;
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                 CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
             ELSE
                 ALTER ROLE {APP_ROLE} LOGIN;
             END IF;
         END
         $$"
    );
    // Only constants are interpolated.
    sqlx::raw_sql(AssertSqlSafe(statement))
        .execute(superuser)
        .await
        .map(drop)
}

/// Creates database `name` owned by the owner role unless it exists; returns whether it did.
/// PUBLIC loses its default CONNECT and TEMPORARY rights on it; the app role may connect.
pub async fn ensure_database(
    superuser: &mut PgConnection,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut *superuser)
            .await?;
    if exists {
        return Ok(false);
    }
    let db = quote_ident(name);
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE {db} OWNER {OWNER_ROLE} ENCODING 'UTF8'"
    )))
    .execute(&mut *superuser)
    .await?;
    restrict_database(superuser, name).await?;
    Ok(true)
}

/// Takes PUBLIC's default CONNECT and TEMPORARY rights on `name`; grants CONNECT to the app role.
pub async fn restrict_database(
    superuser: &mut PgConnection,
    name: &str,
) -> Result<(), sqlx::Error> {
    let db = quote_ident(name);
    sqlx::raw_sql(AssertSqlSafe(format!(
        "REVOKE ALL ON DATABASE {db} FROM PUBLIC; GRANT CONNECT ON DATABASE {db} TO {APP_ROLE}"
    )))
    .execute(superuser)
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn identifiers_are_quoted_and_escaped() {
        assert_eq!(quote_ident("haven"), "\"haven\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
