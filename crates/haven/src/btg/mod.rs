//! Break-the-glass emergency access (SPEC §5, HIPAA §164.312(a)(2)(ii)): an ADMIN opens one
//! patient to one user of the practice for a short, fixed time, with a written justification.
//!
//! * **Grants** live in `btg_grants` (`crate::store::btg`); the HTTP side is `api::btg`.
//! * **Use.** `crate::policy::patients::visible` treats an active grant as access to that
//!   patient (what a care-team clinician may do), decided by PostgreSQL's `now()` on every
//!   request, so a grant that expires or is revoked mid-session stops working at once. Every
//!   request allowed through a grant passes `api::access::visible` (the one place every
//!   handler finds a patient's row), which audits `BTG_USE_ACCESS` in the request's transaction
//!   and raises the signal.
//! * **Signals** ([`signal`]): grant (CRITICAL), use (HIGH) and revoke (MEDIUM) each write one
//!   `"level":"SECURITY"` JSON line to stdout and are POSTed to
//!   `HAVEN_SECURITY_WEBHOOK_URL` by a background task ([`webhook`]) that never holds up a
//!   request.
//! * **Expiry** ([`expiry`]): a background job records `BTG_EXPIRED` once per lapsed grant.

pub mod expiry;
pub mod signal;
pub mod webhook;

pub use signal::{SecurityEvent, SecuritySignals, Severity};

/// The durations a grant may have, in minutes.
pub const ALLOWED_DURATIONS_MINUTES: [i32; 6] = [15, 30, 60, 120, 240, 480];
/// The duration of a grant that names none.
pub const DEFAULT_DURATION_MINUTES: i32 = 60;
/// The shortest acceptable justification, in characters (after trimming).
pub const MIN_JUSTIFICATION_LENGTH: usize = 50;
/// The longest acceptable justification, in characters.
pub const MAX_JUSTIFICATION_LENGTH: usize = 2000;
