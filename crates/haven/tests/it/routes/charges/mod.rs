//! `/api/charges` and `/api/fee-schedule` (SPEC §6 "Charges").

mod access;
mod correct;
mod create;
mod fee_schedule;
mod holds;
mod ledger;
mod transition;
mod update;
