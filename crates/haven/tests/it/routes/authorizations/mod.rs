//! `/api/authorizations`.

mod access;
mod adjust;
mod create;
mod list;
