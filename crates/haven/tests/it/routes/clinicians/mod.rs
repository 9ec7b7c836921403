//! `/api/clinicians/{userId}/availability` and `/blocks`.

mod blocks;
mod get_availability;
mod set_availability;
