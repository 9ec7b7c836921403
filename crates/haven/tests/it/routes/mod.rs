//! The API's routes, one folder per resource, one file per action.

mod appointments;
mod clinicians;
mod organization_settings;
mod series;
mod slots;
