//! Email addresses as Haven accepts them.

use std::fmt;

/// A syntactically plausible email address, trimmed, at most 254 characters. Haven compares
/// emails case-insensitively (the database indexes `lower(email)`), but keeps the case given.
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
}

impl Email {
    /// Parses and trims `raw`.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = raw.trim();
        if email.is_empty() {
            return Err(EmailError::Empty);
        }
        if email.chars().count() > 254 {
            return Err(EmailError::TooLong);
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
        if plausible {
            Ok(Self(email.to_owned()))
        } else {
            Err(EmailError::Malformed)
        }
    }

    /// The address as given (trimmed).
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
    fn accepts_and_trims_ordinary_addresses() {
        let email = Email::parse("  Dana.Lee+intake@clinic.example.org ").expect("valid");
        assert_eq!(email.as_str(), "Dana.Lee+intake@clinic.example.org");
        assert_eq!(email.local_part(), "Dana.Lee+intake");
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
    fn debug_output_hides_the_address() {
        let email = Email::parse("secret.person@example.org").expect("valid");
        assert!(!format!("{email:?}").contains("secret"));
    }
}
