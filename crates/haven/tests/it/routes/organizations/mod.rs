//! `/api/admin/organizations` (SUPER_ADMIN).

mod access;
mod create;
