//! `/api/patients` and `/api/patients/{id}/care-team`.

mod access;
mod create;
mod list;
mod update;
