//! Email addresses as Haven accepts them.
//!
//! An email is a login and the name a person goes by in user lists and the audit trail, so two
//! addresses that *look* the same must *be* the same. [`Email::parse`] therefore returns one
//! canonical form, and refuses what could only serve to imitate another address:
//!
//! - **Canonical form**: Unicode NFKC, then lowercase, then NFKC again (lowercasing can undo
//!   composition). A Kelvin sign `K` (U+212A) becomes `k`, a fullwidth `ｄ` becomes `d`, and
//!   `Dana@Clinic.org` becomes `dana@clinic.org`. The canonical form is what is stored and what
//!   reaches SQL, so the database's `lower(email)` (the unique index and the login look-up) is
//!   the identity on it in any collation, and older rows stored with ASCII capitals still match.
//! - **Invisible characters** (Unicode `Default_Ignorable_Code_Point`: zero-width space and
//!   joiners, soft hyphen, bidi controls, variation selectors, tag characters, Hangul fillers)
//!   are refused, as are controls and whitespace.
//! - **Every non-ASCII character must be allowed in identifiers** by the UTS #39 General
//!   Security Profile (no symbols, emoji, private-use, unassigned or obsolete-script characters).
//! - **One script per label**: the local part and each domain label must be single-script
//!   (UTS #39, so `Common` characters such as digits and `.`/`-` go with any script, and
//!   Han + Kana count as Japanese). `pаypal` with a Cyrillic `а` is refused.
//! - **No whole-script look-alikes of ASCII**: a non-ASCII label whose UTS #39 confusable
//!   skeleton is plain ASCII (`раураl` spelled all in Cyrillic, `o’brien` with a curly
//!   apostrophe) can only imitate an ASCII address, and is refused.
//!
//! Genuine internationalised addresses (`josé@…`, `иван@пример.рф`) are accepted.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_security::{GeneralSecurityProfile, MixedScript};

/// A syntactically plausible email address in canonical form (trimmed, NFKC, lowercase), at
/// most 254 characters, without invisible characters or look-alike labels (see the module
/// documentation). Two addresses are the same account exactly when their canonical forms are
/// equal.
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

/// Why a string is not an [`Email`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    /// Empty after trimming.
    #[error("must not be empty")]
    Empty,
    /// Longer than 254 characters.
    #[error("must be at most 254 characters")]
    TooLong,
    /// Not of the form local@domain.tld.
    #[error("must be an email address like name@example.org")]
    Malformed,
    /// Holds an invisible or formatting character (zero-width, bidi control, soft hyphen, ...).
    #[error("must not contain invisible or formatting characters")]
    Invisible,
    /// Holds a symbol or another character that has no place in an address.
    #[error("must contain only letters, digits and the usual address punctuation")]
    Disallowed,
    /// A label mixes writing systems, or imitates an ASCII one.
    #[error("must not mix writing systems or imitate another address")]
    Lookalike,
}

/// Unicode 16 `Default_Ignorable_Code_Point` (DerivedCoreProperties.txt): characters that
/// render as nothing.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

fn is_invisible(c: char) -> bool {
    INVISIBLE
        .iter()
        .any(|&(low, high)| (low..=high).contains(&c))
}

/// NFKC, lowercase, NFKC: the form two look-alike spellings share.
fn canonical(raw: &str) -> String {
    let nfkc: String = raw.nfkc().collect();
    nfkc.to_lowercase().nfkc().collect()
}

/// The checks of one label (the local part, or one domain label) of a canonical address.
fn check_label(label: &str) -> Result<(), EmailError> {
    if label.is_ascii() {
        return Ok(());
    }
    if label
        .chars()
        .any(|c| !c.is_ascii() && !c.identifier_allowed())
    {
        return Err(EmailError::Disallowed);
    }
    if !label.is_single_script() || unicode_security::skeleton(label).all(|c| c.is_ascii()) {
        return Err(EmailError::Lookalike);
    }
    Ok(())
}

impl Email {
    /// Parses `raw` into its canonical form (see the module documentation).
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(EmailError::Empty);
        }
        // Bound the work before normalising (NFKC can expand a character up to 18-fold).
        if raw.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        if raw.chars().any(is_invisible) {
            return Err(EmailError::Invisible);
        }
        let email = canonical(raw);
        if email.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        if email.chars().any(is_invisible) {
            return Err(EmailError::Invisible);
        }
        let (local, domain) = email.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let plausible = !local.is_empty()
            && local.chars().count() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
        if !plausible {
            return Err(EmailError::Malformed);
        }
        check_label(local)?;
        for label in domain.split('.') {
            check_label(label)?;
        }
        Ok(Self(email))
    }

    /// The canonical address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`, which a password must not contain.
    #[must_use]
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or(&self.0, |(local, _)| local)
    }
}

// Emails identify people: keep them out of Debug output so they cannot reach a log by accident.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_trims_and_lowercases_ordinary_addresses() {
        let email = Email::parse("  Dana.Lee+intake@Clinic.Example.org ").expect("valid");
        assert_eq!(email.as_str(), "dana.lee+intake@clinic.example.org");
        assert_eq!(email.local_part(), "dana.lee+intake");
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        assert_eq!(Email::parse(""), Err(EmailError::Empty));
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        for bad in [
            "nobody",
            "a@b",
            "@example.org",
            "a b@example.org",
            "a@.org",
            "a@org.",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Malformed), "{bad}");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn compatibility_and_case_variants_map_to_the_same_address() {
        let genuine = Email::parse("kate@example.org").expect("valid");
        for variant in [
            "\u{212A}ate@example.org",                      // Kelvin sign
            "\u{FF4B}\u{FF41}\u{FF54}\u{FF45}@example.org", // fullwidth
            "KATE@EXAMPLE.ORG",                             // capitals
            "kate\u{FF20}example\u{FF0E}org",               // fullwidth @ and .
            "kate@\u{FF45}\u{FF58}\u{FF41}\u{FF4D}ple.org", // fullwidth domain
        ] {
            assert_eq!(Email::parse(variant), Ok(genuine.clone()), "{variant:?}");
        }
    }

    #[test]
    fn invisible_characters_are_refused() {
        for bad in [
            "ka\u{200B}te@example.org",  // zero-width space
            "ka\u{200D}te@example.org",  // zero-width joiner
            "ka\u{200C}te@example.org",  // zero-width non-joiner
            "ka\u{00AD}te@example.org",  // soft hyphen
            "kate@exa\u{202E}mple.org",  // right-to-left override
            "kate@example.org\u{2066}",  // left-to-right isolate
            "\u{FEFF}kate@example.org",  // byte-order mark
            "kate\u{FE0F}@example.org",  // variation selector
            "kate@example.org\u{E0041}", // tag character
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invisible), "{bad:?}");
        }
    }

    #[test]
    fn mixed_script_and_look_alike_labels_are_refused() {
        for bad in [
            "k\u{0430}te@example.org", // Cyrillic а among Latin
            "kate@ex\u{0430}mple.org", // ... in the domain
            "\u{0440}\u{0430}\u{0443}\u{0440}\u{0430}l@example.org", // Cyrillic+Latin paypal
            "\u{0441}\u{043E}\u{0440}\u{0435}@example.org", // "cope" all in Cyrillic
            "o\u{2019}brien@example.org", // curly apostrophe
            "dana\u{2010}lee@example.org", // Unicode hyphen
            "k\u{03B1}te@example.org", // Greek alpha
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Lookalike), "{bad:?}");
        }
        for bad in ["kate\u{2764}@example.org", "kate\u{E000}@example.org"] {
            assert_eq!(Email::parse(bad), Err(EmailError::Disallowed), "{bad:?}");
        }
    }

    #[test]
    fn genuine_international_addresses_are_accepted() {
        for good in [
            "Jos\u{00E9}@example.org",
            "jose\u{0301}@example.org", // decomposed é composes under NFKC
            "\u{0418}\u{0432}\u{0430}\u{043D}@\u{043F}\u{0440}\u{0438}\u{043C}\u{0435}\u{0440}.\u{0440}\u{0444}",
            "m\u{00FC}ller@example.de",
            "\u{5C71}\u{7530}\u{305F}\u{308D}\u{3046}@example.jp", // Han + Hiragana
        ] {
            let email = Email::parse(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
            assert_eq!(
                Email::parse(email.as_str()),
                Ok(email.clone()),
                "idempotent"
            );
        }
        assert_eq!(
            Email::parse("jose\u{0301}@example.org"),
            Email::parse("Jos\u{00E9}@example.org")
        );
    }

    #[test]
    fn debug_output_hides_the_address() {
        let email = Email::parse("secret.person@example.org").expect("valid");
        assert!(!format!("{email:?}").contains("secret"));
    }
}
