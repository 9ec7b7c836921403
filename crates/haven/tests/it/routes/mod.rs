//! Endpoint tests, mirroring the API: `routes/<resource>/<action>.rs`, and
//! `routes/<resource>/access.rs` for a resource's role and tenant rules across its endpoints.

mod audit_logs;
mod auth;
mod authorizations;
mod btg;
mod health;
mod maintenance;
mod organizations;
mod patients;
mod sessions;
mod users;
