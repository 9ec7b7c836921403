//! `/api/notes` and supervision (SPEC §6 "Clinical notes").

mod access;
mod addenda;
mod concurrency;
mod cosign;
mod create;
mod delete;
mod entered_in_error;
mod locking;
mod overdue;
mod read;
mod sign;
mod update;
