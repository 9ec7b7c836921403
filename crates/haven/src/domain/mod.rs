//! Domain values parsed at the edge: once a request body has become one of these, the rest of the
//! code can rely on it being well-formed.

mod email;
mod name;
mod role;

pub use email::{Email, EmailError};
pub use name::parse_name;
pub use role::Role;
