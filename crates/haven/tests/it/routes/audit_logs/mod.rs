//! `/api/audit-logs`: query, verify, export.

mod access;
mod export;
mod list;
mod verify;
