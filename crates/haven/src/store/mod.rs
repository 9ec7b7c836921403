//! Data access. Every function takes the [`crate::db::TenantTx`] it runs in and filters by its
//! organization as well, even though row-level security would hide other tenants' rows anyway.

pub mod appointments;
pub mod audit_logs;
pub mod authorizations;
pub mod availability;
pub mod btg;
pub mod charge_exports;
pub mod charges;
pub mod incidents;
pub mod mfa;
pub mod notes;
pub mod organizations;
pub mod patients;
pub mod realtime;
pub mod series;
pub mod sessions;
pub mod sessions_units;
pub mod slots;
pub mod supervision;
pub mod users;
pub mod waitlist;
pub mod waitlist_offers;

/// Whether `error` is a unique-constraint violation on `constraint`.
#[must_use]
pub fn is_unique_violation(error: &sqlx::Error, constraint: &str) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation() && e.constraint() == Some(constraint))
}

/// The statement of one page of a filtered set together with the set's size, so a list is one
/// round trip and its filter is written (and bound) once: `filter` is the `FROM .. WHERE ..`
/// clause, whose parameters serve both the count and the page; `order` the page's order;
/// `$limit_param` and the parameter after it the page's LIMIT and OFFSET. Read the result with
/// [`read_page`]. (`count(*) OVER ()` alone would lose the total on a page past the end.)
pub(crate) fn page_query(columns: &str, filter: &str, order: &str, limit_param: usize) -> String {
    format!(
        "SELECT counted.total, page.* FROM (SELECT count(*) AS total {filter}) counted \
         LEFT JOIN LATERAL (SELECT {columns}, row_number() OVER (ORDER BY {order}) AS ordinal \
                            {filter} ORDER BY {order} LIMIT ${limit_param} OFFSET ${offset}) page \
         ON true ORDER BY page.ordinal",
        offset = limit_param + 1
    )
}

/// The rows and total of a [`page_query`]: an empty page is one row of NULLs beside the total.
pub(crate) fn read_page<T>(rows: &[sqlx::postgres::PgRow]) -> Result<(Vec<T>, i64), sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    use sqlx::Row;
    let mut total = 0;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        total = row.try_get("total")?;
        if row.try_get::<Option<uuid::Uuid>, _>("id")?.is_some() {
            items.push(T::from_row(row)?);
        }
    }
    Ok((items, total))
}
