//! `/api/organization/settings`.

mod business_hours;
mod get;
mod update;
