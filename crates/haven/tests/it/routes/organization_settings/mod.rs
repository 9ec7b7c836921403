//! `/api/organization/settings`.

mod get;
mod update;
