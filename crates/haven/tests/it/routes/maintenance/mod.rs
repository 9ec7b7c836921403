//! `/api/admin/maintenance`.

mod access;
mod cleanup_stale;
