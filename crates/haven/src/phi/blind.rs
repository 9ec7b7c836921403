//! Blind indexes: exact look-ups of encrypted values without decrypting every row.
//!
//! `index = HMAC-SHA256(organization's blind key, "<column>\0<normalized value>")`. The column is
//! in the input so an MRN and a last name that happen to be equal do not index alike; the key is
//! per organization so equal values of two practices do not either, and nobody without the key
//! can test a guess against the table.
//!
//! An index supports **exact, case-insensitive** matches only (after the normalization below):
//! no prefixes, ranges, fuzzy or accent-insensitive search. It is deterministic by design, so
//! it does reveal which rows of one organization share a value.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::cache::KeyBytes;
use crate::ids::OrganizationId;

/// An organization's blind-index key, unwrapped. It never rotates: every stored index would have
/// to be recomputed at the same instant. Redacted in `Debug`.
#[derive(Clone)]
pub struct BlindKey {
    organization_id: OrganizationId,
    id: Uuid,
    key: KeyBytes,
}

impl std::fmt::Debug for BlindKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlindKey")
            .field("organization_id", &self.organization_id)
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl BlindKey {
    pub(super) fn new(organization_id: OrganizationId, id: Uuid, key: KeyBytes) -> Self {
        Self {
            organization_id,
            id,
            key,
        }
    }

    /// The organization the key belongs to.
    #[must_use]
    pub fn organization_id(&self) -> OrganizationId {
        self.organization_id
    }

    /// The blind index of `value` in `column`, normalized with [`normalize_name`] (trimmed,
    /// whitespace collapsed, lowercased). For an MRN use [`BlindKey::mrn_index`].
    #[must_use]
    pub fn index(&self, column: &'static str, value: &str) -> [u8; 32] {
        self.mac(column, &normalize_name(value))
    }

    /// The blind index of an MRN in `column`, normalized with [`normalize_mrn`], so
    /// `"AB-12 34"` and `"ab1234"` index alike.
    #[must_use]
    pub fn mrn_index(&self, column: &'static str, value: &str) -> [u8; 32] {
        self.mac(column, &normalize_mrn(value))
    }

    fn mac(&self, column: &str, normalized: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(column.as_bytes());
        mac.update(b"\0");
        mac.update(normalized.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Normalizes a name (or any free text) for a blind index: trimmed of Unicode whitespace, each
/// inner run of whitespace collapsed to one space, lowercased (`str::to_lowercase`).
#[must_use]
pub fn normalize_name(value: &str) -> Zeroizing<String> {
    let mut normalized = Zeroizing::new(String::with_capacity(value.len()));
    for (i, word) in value.split_whitespace().enumerate() {
        if i > 0 {
            normalized.push(' ');
        }
        // Per word equals lowercasing the whole: final sigma looks only within a word.
        normalized.push_str(&Zeroizing::new(word.to_lowercase()));
    }
    normalized
}

/// Normalizes an MRN for a blind index: as [`normalize_name`], then without any whitespace or
/// dash (ASCII `-` and the Unicode hyphens, dashes and minus signs people paste in).
#[must_use]
pub fn normalize_mrn(value: &str) -> Zeroizing<String> {
    let name = normalize_name(value);
    Zeroizing::new(
        name.chars()
            .filter(|c| !c.is_whitespace() && !is_dash(*c))
            .collect(),
    )
}

fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}'
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn names_are_trimmed_collapsed_and_lowercased() {
        assert_eq!(normalize_name("  SMITH ").as_str(), "smith");
        assert_eq!(
            normalize_name("\u{a0}Mary \t  ANNE\n").as_str(),
            "mary anne"
        );
        assert_eq!(normalize_name("ΟΔΥΣΣΕΥΣ").as_str(), "οδυσσευς");
        assert_eq!(normalize_name("   ").as_str(), "");
    }

    #[test]
    fn mrns_lose_spaces_and_dashes() {
        assert_eq!(normalize_mrn("AB-12 34").as_str(), "ab1234");
        assert_eq!(normalize_mrn(" ab\u{2013}12\u{2212}34 ").as_str(), "ab1234");
    }

    #[test]
    fn the_index_separates_columns_and_normalizes() {
        let key = BlindKey::new(
            OrganizationId::new(),
            Uuid::now_v7(),
            Arc::new(Zeroizing::new([9u8; 32])),
        );
        assert_eq!(
            key.index("last_name", "  SMITH "),
            key.index("last_name", "smith")
        );
        assert_ne!(
            key.index("last_name", "smith"),
            key.index("first_name", "smith")
        );
        assert_eq!(
            key.mrn_index("mrn", "AB-12 34"),
            key.mrn_index("mrn", "ab1234")
        );
        assert!(format!("{key:?}").contains("REDACTED"));
    }
}
