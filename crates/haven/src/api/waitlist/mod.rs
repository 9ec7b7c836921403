//! `/api/waitlist` and `/api/waitlist-offers`: patients waiting for a slot, matched both ways
//! in one statement each, and offers that hold a freed slot (SPEC §6 "Waitlist"). Who may is
//! `crate::policy::waitlist`'s decision; an offer's appointment goes through the booking path.

pub(crate) mod codec;
mod create;
mod decide;
mod list;
mod lookup;
mod matches;
mod offers;
mod prefs;
mod update;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/waitlist`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_waitlist, create::add_to_waitlist))
        .routes(routes!(matches::match_entries_for_slot))
        .routes(routes!(
            update::update_waitlist_entry,
            update::remove_waitlist_entry
        ))
        .routes(routes!(matches::match_slots_for_entry))
        .routes(routes!(offers::offer_slot))
}

/// The routes, relative to `/api/waitlist-offers`.
pub fn offer_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(decide::accept_offer))
        .routes(routes!(decide::decline_offer))
}
