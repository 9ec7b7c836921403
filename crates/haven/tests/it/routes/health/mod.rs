//! `GET /health` and `GET /ready`.

mod get;
mod ready;
