//! `/api/users` (ADMIN).

mod access;
mod create;
mod update;
