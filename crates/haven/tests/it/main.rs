//! Haven's integration tests, in one binary.
//!
//! - `routes/<resource>/<action>.rs`: endpoint tests, mirroring the API (`routes/patients/
//!   create.rs` tests `POST /api/patients`); `routes/<resource>/access.rs` holds a resource's
//!   role and tenant rules across its endpoints. Response shapes are pinned there with `insta`
//!   snapshots (`snapshots/` next to the file).
//! - `fixtures/`: set-up shared by more than one module (practices, patients, authorizations,
//!   grants, the real binary, signing keys...). A helper used by one module stays in it.
//! - `snapshots_errors`: every error envelope Haven answers, produced by real requests and
//!   pinned as snapshots.
//! - The other modules are cross-cutting suites: tenancy and the catalog, the ledger under
//!   concurrency and crashes, the audit chain and what it covers, PHI at rest, keys and tokens,
//!   rate limits, CSRF, refusals, errors, transport, logs, metrics, OpenAPI, the embedded binary,
//!   the break-the-glass webhook, grant use and its end-to-end run, the stale-reservation job.

mod audit_chain;
mod audit_coverage;
mod backup;
mod btg_e2e;
mod btg_use;
mod btg_webhook;
mod catalog;
mod csrf;
mod dpop;
mod embedded;
mod errors;
mod failover;
mod fixtures;
mod keys;
mod ledger_concurrency;
mod ledger_crash;
mod logs;
mod master_key;
mod metrics;
mod notes_at_rest;
mod openapi;
mod patients_at_rest;
mod phi;
mod ratelimit;
mod refusals;
mod revocation;
mod routes;
mod security_auth;
mod security_ops;
mod snapshots_errors;
mod stale_cleanup;
mod tenancy;
mod tokens;
mod transport;
