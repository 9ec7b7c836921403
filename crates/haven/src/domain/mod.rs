//! Domain values parsed at the edge: once a request body has become one of these, the rest of the
//! code can rely on it being well-formed.

mod email;
mod role;

pub use email::Email;
pub use role::Role;
