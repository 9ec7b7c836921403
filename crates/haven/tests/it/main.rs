//! Haven's integration tests: one binary, one module per area; the route modules mirror the API.

mod catalog;
mod embedded;
mod errors;
mod health;
mod tenancy;
