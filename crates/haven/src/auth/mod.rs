//! Authentication. For now: password hashing, which bootstrapping the first platform operator
//! needs; login, tokens and the `Caller` extractor build on it.

pub mod password;
