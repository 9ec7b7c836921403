//! `/api/notes`: clinical notes (SPEC §6 "Clinical notes"). Who may see and do what is
//! `crate::policy::notes`'s decision; formats, content encryption and signatures are
//! `crate::notes`'s; the database locks signed notes for good.

mod addenda;
mod codec;
mod cosign;
mod create;
mod delete;
mod entered_in_error;
mod get;
mod list;
mod lookup;
mod reauth;
mod sign;
mod update;
mod view;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/notes`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_notes, create::create_note))
        .routes(routes!(
            get::get_note,
            update::update_note,
            delete::delete_note
        ))
        .routes(routes!(sign::sign_note))
        .routes(routes!(cosign::cosign_note))
        .routes(routes!(addenda::add_addendum))
        .routes(routes!(entered_in_error::enter_note_in_error))
}
