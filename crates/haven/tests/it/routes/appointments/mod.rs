//! `/api/appointments`.

mod concurrency;
mod create;
mod create_units;
mod read;
mod reschedule;
mod transitions;
