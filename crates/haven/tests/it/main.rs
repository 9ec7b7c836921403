//! Haven's integration tests: one binary, one module per area; the route modules mirror the API.

mod audit_chain;
mod audit_coverage;
mod audit_logs;
mod auth_fuzz;
mod auth_login;
mod auth_mfa;
mod auth_session;
mod catalog;
mod embedded;
mod errors;
mod health;
mod keys;
mod logs;
mod organizations;
mod patients;
mod patients_at_rest;
mod phi;
mod ratelimit;
mod tenancy;
mod tokens;
mod users;
