//! Haven's test harness.
//!
//! * [`TestDb`]: a fresh database per test, copied (`CREATE DATABASE .. TEMPLATE .. STRATEGY
//!   FILE_COPY`) from a template migrated once per set of migrations, dropped when the `TestDb`
//!   is dropped. Databases left by test processes that died are swept when the next one starts.
//! * The server behind it is one private PostgreSQL cluster shared by every test process of
//!   this checkout (nextest runs each test in its own process), in `/dev/shm` when there is one,
//!   run as an unprivileged user when the tests run as root. Set `HAVEN_TEST_DATABASE_URL` to a
//!   superuser URL to use a running server instead (its `haven_owner` / `haven_app` roles must
//!   be able to log in without a password, e.g. trust on localhost).
//! * [`TestApp`]: Haven's router in-process over a `TestDb`, called without a network.
//! * [`services`]: Redis for the tests that need it, and skipping without it, except in CI
//!   (`CI=true`), where a missing service fails the test.

mod app;
mod db;
mod server;
pub mod services;

pub use app::{
    PASSWORD, TestApp, TestResponse, TestUser, json_request, random_master_key, request, send,
};
pub use db::TestDb;
