//! `/api/appointments`.

mod concurrency;
mod create;
mod create_units;
mod holds;
mod read;
mod reschedule;
mod stale;
mod transitions;
