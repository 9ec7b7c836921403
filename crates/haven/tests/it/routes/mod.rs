//! The API's routes, one folder per resource, one file per action.

mod clinicians;
mod organization_settings;
