//! What the master key wraps, and replacing it.
//!
//! The master key is a pure key-encryption key: it derives nothing that data depends on
//! directly. It wraps the organizations' PHI keys (`organization_keys`, see [`crate::phi`]), the
//! JWT signing keys' private halves (`signing_keys`, see [`crate::auth::keys`]) and the
//! deployment's secrets ([`secrets`]); each wrapped row names its master key by a public id
//! ([`crate::crypto::KekId`]). [`rotate`] re-wraps all of them under a new master key while
//! Haven runs.

pub mod rotate;
pub mod secrets;

pub use rotate::{RotateError, RotationReport, rotate_master, usage};
