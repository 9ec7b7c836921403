//! `/api/admin/btg`: break-the-glass configuration, grants, revocation and review.

mod access;
mod config;
mod create;
mod list;
mod review;
mod revoke;
