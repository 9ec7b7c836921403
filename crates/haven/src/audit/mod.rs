//! The audit trail's writer. Every feature records what happened through [`record`], inside the
//! same tenant transaction as the change it describes (or, for a read of PHI, committed before
//! the response leaves), so an audited action and its record commit or fail together.
//!
//! [`record`] appends to `audit_outbox`; the [`seal`] module chains committed events into the
//! per-organization hash chains of `audit_log` shortly after (see its docs for why), and
//! [`verify`] checks a chain. Events carry ids and codes, never PHI or secrets:
//! `details` is for structured, non-identifying facts (a role name, a count, a reason code).

mod action;
pub mod chain;
mod event;
pub mod seal;
pub mod verify;

pub use action::{AccessMethod, AuditAction, Outcome};
pub use event::{Actor, AuditEvent, RequestMeta, record, record_alone, record_many};
