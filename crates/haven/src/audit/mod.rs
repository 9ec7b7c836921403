//! The audit trail's writer. Every feature records what happened through [`record`], inside the
//! same tenant transaction as the change it describes (or, for a read of PHI, committed before
//! the response leaves), so an audited action and its record commit or fail together.
//!
//! [`record`] appends to `audit_outbox`; sealing events into the per-organization hash chain
//! happens afterwards, in commit order. Events carry ids and codes, never PHI or secrets:
//! `details` is for structured, non-identifying facts (a role name, a count, a reason code).

mod action;
mod event;

pub use action::{AccessMethod, AuditAction, Outcome};
pub use event::{AuditEvent, RequestMeta, record, record_alone};
