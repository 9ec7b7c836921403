//! Issue 14, the operational items: unsealed audit events protected like sealed ones
//! ([`audit_outbox`]).

mod audit_outbox;
