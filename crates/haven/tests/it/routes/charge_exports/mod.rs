//! `/api/charge-exports` (SPEC §6 "Charges"): exports of READY charges, voids and
//! replacements; CSV and 837P-shaped JSON downloads.

mod access;
mod concurrency;
mod create;
mod download;
mod measure;
