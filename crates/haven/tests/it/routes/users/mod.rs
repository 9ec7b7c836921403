//! `/api/users` (ADMIN).

mod access;
mod create;
mod supervision;
mod update;
