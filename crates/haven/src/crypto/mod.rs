//! Key material. Haven never implements a primitive itself: RustCrypto and the OS RNG do the
//! work; this module decides where keys come from and keeps them out of logs.

pub mod aead;
mod kek;
mod master_key;

pub use aead::{AeadError, AeadKey};
pub use kek::{KekId, MasterKeys, UnwrapError, Wrapping};
pub use master_key::{MasterKey, MasterKeyError, MasterKeySource};
