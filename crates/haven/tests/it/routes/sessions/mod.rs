//! `/api/sessions`: therapy sessions reserve, start, complete and cancel units of an
//! authorization.

mod access;
mod cancel;
mod complete;
mod list;
mod reserve;
