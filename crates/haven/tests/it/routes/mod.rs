//! Endpoint tests, mirroring the API: `routes/<resource>/<action>.rs`, and
//! `routes/<resource>/access.rs` for a resource's role and tenant rules across its endpoints.

mod appointments;
mod audit_logs;
mod auth;
mod authorizations;
mod btg;
mod charge_exports;
mod charges;
mod clinicians;
mod health;
mod maintenance;
mod notes;
mod organization_settings;
mod organizations;
mod patients;
mod realtime;
mod security;
mod series;
mod sessions;
mod slots;
mod users;
mod waitlist;
