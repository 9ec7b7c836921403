//! `GET /api/availability`: the slot finder.

mod find;
mod plan;
mod statements;
