//! More than one master key at a time, for master-key rotation (`haven keys rotate-master`).
//!
//! Every key Haven stores wrapped (organization keys, signing keys, the deployment secrets)
//! records the [`KekId`] of the master key that wrapped it. An instance holds [`MasterKeys`]:
//! the current key, which wraps everything new, and during a rotation the previous one.
//! [`Wrapping`] opens a wrapped key with whichever of them its `kek_id` names, so rows wrapped
//! under the old key and rows already re-wrapped under the new one both open while the rotation
//! runs.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{AeadKey, MasterKey};

/// A master key's public fingerprint: hex of the first 16 bytes of SHA-256 of a key derived from
/// it for this purpose only. It names the key (in the database, logs and errors) and reveals
/// nothing of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KekId(String);

impl KekId {
    /// The 32 hex digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A stored id, as read from a `kek_id` column.
    #[must_use]
    pub fn from_stored(id: String) -> Self {
        Self(id)
    }
}

impl fmt::Display for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl MasterKey {
    /// This key's [`KekId`].
    #[must_use]
    pub fn kek_id(&self) -> KekId {
        KekId(hex::encode(
            &Sha256::digest(self.derive("kek-id").as_slice())[..16],
        ))
    }
}

/// The master keys an instance holds: the current one and, while a rotation runs, older ones.
#[derive(Clone, Debug)]
pub struct MasterKeys {
    current: MasterKey,
    /// Older keys, the previous one first; never the current key, never twice the same.
    older: Vec<MasterKey>,
}

impl MasterKeys {
    /// Just one key (no rotation under way).
    #[must_use]
    pub fn single(current: MasterKey) -> Self {
        Self {
            current,
            older: Vec::new(),
        }
    }

    /// `current` and the keys it replaces (the previous one first). A key given twice, or equal
    /// to `current`, is kept once.
    #[must_use]
    pub fn new(current: MasterKey, older: impl IntoIterator<Item = MasterKey>) -> Self {
        let mut seen = vec![current.kek_id()];
        let mut kept = Vec::new();
        for key in older {
            let id = key.kek_id();
            if !seen.contains(&id) {
                seen.push(id);
                kept.push(key);
            }
        }
        Self {
            current,
            older: kept,
        }
    }

    /// The key that wraps everything new.
    #[must_use]
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// The older keys, the previous one first.
    #[must_use]
    pub fn older(&self) -> &[MasterKey] {
        &self.older
    }

    /// Every key, the current one first.
    pub fn all(&self) -> impl Iterator<Item = &MasterKey> {
        std::iter::once(&self.current).chain(&self.older)
    }

    /// Whether one of these keys has this id.
    #[must_use]
    pub fn holds(&self, id: &KekId) -> bool {
        self.all().any(|key| key.kek_id() == *id)
    }

    /// The key whose derived secrets a deployment used before it stored them (see
    /// `crate::kek::secrets`): the previous key during a rotation, else the current one.
    #[must_use]
    pub fn origin(&self) -> &MasterKey {
        self.older.first().unwrap_or(&self.current)
    }
}

impl From<MasterKey> for MasterKeys {
    fn from(key: MasterKey) -> Self {
        Self::single(key)
    }
}

impl From<&MasterKey> for MasterKeys {
    fn from(key: &MasterKey) -> Self {
        Self::single(key.clone())
    }
}

impl From<&MasterKeys> for MasterKeys {
    fn from(keys: &MasterKeys) -> Self {
        keys.clone()
    }
}

/// Why a wrapped key did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnwrapError {
    /// It names a master key this process does not hold.
    #[error(
        "it is wrapped under master key {0}, which this instance does not hold: configure that \
         key as HAVEN_MASTER_KEY_FILE or HAVEN_PREVIOUS_MASTER_KEY_FILE"
    )]
    MissingKey(KekId),
    /// Wrong key, wrong associated data, or altered.
    #[error("it does not open under the master key it names (altered, or moved)")]
    Failed,
}

/// One purpose's wrapping key under each master key held: seals under the current one, opens
/// under the one a row names.
#[derive(Debug)]
pub struct Wrapping {
    /// The current key's first.
    keys: Vec<(KekId, AeadKey)>,
}

impl Wrapping {
    /// The wrapping keys for `purpose` (e.g. `"organization-keys"`).
    #[must_use]
    pub fn derive(keys: &MasterKeys, purpose: &str) -> Self {
        Self {
            keys: keys
                .all()
                .map(|key| (key.kek_id(), AeadKey::derive(key, purpose)))
                .collect(),
        }
    }

    /// The id stored with what [`Wrapping::seal`] makes.
    #[must_use]
    pub fn current(&self) -> &KekId {
        &self.keys[0].0
    }

    /// Wraps `plaintext` under the current master key, bound to `aad`.
    #[must_use]
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        self.keys[0].1.seal(plaintext, aad)
    }

    /// Opens `blob`, wrapped under master key `kek` (`None`: stored before kek ids were, so
    /// under one of the keys held — each is tried).
    pub fn open(
        &self,
        kek: Option<&KekId>,
        blob: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        match kek {
            Some(id) => {
                let (_, key) = self
                    .keys
                    .iter()
                    .find(|(held, _)| held == id)
                    .ok_or_else(|| UnwrapError::MissingKey(id.clone()))?;
                key.open(blob, aad).map_err(|_| UnwrapError::Failed)
            }
            None => self
                .keys
                .iter()
                .find_map(|(_, key)| key.open(blob, aad).ok())
                .ok_or(UnwrapError::Failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_base64(&MasterKey::generate_base64()).expect("random key")
    }

    #[test]
    fn kek_ids_are_stable_distinct_and_reveal_no_key_bytes() {
        let (a, b) = (key(), key());
        assert_eq!(a.kek_id(), a.clone().kek_id());
        assert_ne!(a.kek_id(), b.kek_id());
        assert_eq!(a.kek_id().as_str().len(), 32);
        assert!(!a.kek_id().as_str().contains(&hex::encode(&a.expose()[..8])));
    }

    #[test]
    fn a_row_opens_with_the_key_it_names_and_a_missing_key_is_named() {
        let (old, new) = (key(), key());
        let before = Wrapping::derive(&MasterKeys::single(old.clone()), "p");
        let blob = before.seal(b"secret", b"aad");
        let during = Wrapping::derive(&MasterKeys::new(new.clone(), [old.clone()]), "p");
        let after = Wrapping::derive(&MasterKeys::single(new.clone()), "p");

        assert_eq!(during.current(), &new.kek_id());
        let opened = during
            .open(Some(&old.kek_id()), &blob, b"aad")
            .expect("opens");
        assert_eq!(opened.as_slice(), b"secret");
        assert_eq!(
            after.open(Some(&old.kek_id()), &blob, b"aad"),
            Err(UnwrapError::MissingKey(old.kek_id()))
        );
        assert_eq!(
            during.open(Some(&new.kek_id()), &blob, b"aad"),
            Err(UnwrapError::Failed)
        );
        assert!(
            during.open(None, &blob, b"aad").is_ok(),
            "legacy rows: tried"
        );
        assert_eq!(after.open(None, &blob, b"aad"), Err(UnwrapError::Failed));
    }

    #[test]
    fn the_origin_is_the_previous_key_while_rotating() {
        let (old, new) = (key(), key());
        let keys = MasterKeys::new(new.clone(), [old.clone(), new.clone(), old.clone()]);
        assert_eq!(
            keys.older().len(),
            1,
            "duplicates and the current key dropped"
        );
        assert_eq!(keys.origin().kek_id(), old.kek_id());
        assert_eq!(
            MasterKeys::single(new.clone()).origin().kek_id(),
            new.kek_id()
        );
        assert!(keys.holds(&old.kek_id()) && keys.holds(&new.kek_id()));
        assert!(!keys.holds(&key().kek_id()));
    }
}
