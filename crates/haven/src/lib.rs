//! Haven: the backend that therapy and behavioral-health practices trust with protected health
//! information. One deployment serves many practices, kept apart by row-level security.
//!
//! The binary (`src/main.rs`) is thin; everything lives here so the tests drive the same code:
//! [`build_router`] gives the HTTP API for an [`AppState`], [`launch`] serves it.

pub mod accounts;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod btg;
pub mod charges;
pub mod cli;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod http;
pub mod ids;
pub mod kek;
pub mod notes;
pub mod phi;
pub mod policy;
pub mod ratelimit;
pub mod realtime;
pub mod scheduling;
pub mod security;
mod server;
pub mod store;
pub mod telemetry;
pub mod units;

pub use app::{App, AppState};
pub use server::{ConnectionLimits, build_router, launch, launch_with};
