//! `/api/security`: breach detection (the detector's rules) and security incidents.

mod access;
mod containment;
mod detection;
mod incidents;
mod risk_assessment;
mod rules;
mod spraying;
mod statements;
mod transition;
