//! `?page=&limit=` and the `pagination` object of list responses (SPEC §4).

use serde::{Deserialize, Serialize};

use crate::http::error::AppError;

/// Requested page: `page` from 1, `limit` 1–100 (default 20).
#[derive(Debug, Clone, Copy, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The page, from 1 (default 1).
    #[param(minimum = 1, maximum = 1_000_000)]
    page: Option<i64>,
    /// Items per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

/// A checked page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub page: i64,
    /// Items per page.
    pub limit: i64,
}

impl Page {
    /// Checks the query's values.
    pub fn from_query(page: Option<i64>, limit: Option<i64>) -> Result<Self, AppError> {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(20);
        if !(1..=1_000_000).contains(&page) {
            return Err(AppError::invalid_field(
                "page",
                "must be a whole number from 1",
            ));
        }
        if !(1..=100).contains(&limit) {
            return Err(AppError::invalid_field(
                "limit",
                "must be between 1 and 100",
            ));
        }
        Ok(Self { page, limit })
    }

    /// Rows to skip.
    #[must_use]
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.limit
    }

    /// The response's `pagination` object for `total` items.
    #[must_use]
    pub fn info(&self, total: i64) -> Pagination {
        Pagination {
            page: self.page,
            limit: self.limit,
            total,
            total_pages: (total + self.limit - 1) / self.limit,
        }
    }
}

impl TryFrom<PageQuery> for Page {
    type Error = AppError;

    fn try_from(query: PageQuery) -> Result<Self, AppError> {
        Self::from_query(query.page, query.limit)
    }
}

/// `{"page", "limit", "total", "totalPages"}`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// The page.
    pub page: i64,
    /// Its size.
    pub limit: i64,
    /// Items in all.
    pub total: i64,
    /// Pages in all.
    pub total_pages: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_checked_and_counted() {
        let page = Page::from_query(Some(3), Some(10)).expect("valid");
        assert_eq!(page.offset(), 20);
        assert_eq!(page.info(21).total_pages, 3);
        assert_eq!(
            Page::from_query(None, None).expect("defaults"),
            Page { page: 1, limit: 20 }
        );
        assert!(Page::from_query(Some(0), None).is_err());
        assert!(Page::from_query(None, Some(101)).is_err());
        assert!(Page::from_query(None, Some(0)).is_err());
    }
}
