//! `/api/appointments`.

mod concurrency;
mod create;
mod create_units;
mod holds;
mod ledger_sequences;
mod metrics;
mod read;
mod reschedule;
mod stale;
mod transitions;
