//! Domain values parsed at the edge: once a request body has become one of these, the rest of the
//! code can rely on it being well-formed.

mod email;
mod instant;
mod name;
mod patient;
mod role;
mod time_zone;

pub use email::{Email, EmailError};
pub use instant::parse_instant;
pub use name::parse_name;
pub use patient::{MedicalRecordNumber, PersonName, PhoneNumber, parse_date_of_birth};
pub use role::Role;
pub use time_zone::parse_time_zone_name;
