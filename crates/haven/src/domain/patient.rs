//! Patient demographics as Haven accepts them: checked at the edge, before anything is
//! encrypted or stored.

use chrono::{NaiveDate, Utc};

/// The earliest date of birth Haven accepts.
const EARLIEST_BIRTH: (i32, u32, u32) = (1900, 1, 1);

/// A `YYYY-MM-DD` date of birth: a real date, not in the future, not before 1900.
pub fn parse_date_of_birth(text: &str) -> Result<NaiveDate, String> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| "must be a date like 2015-04-30".to_owned())?;
    let earliest = NaiveDate::from_ymd_opt(EARLIEST_BIRTH.0, EARLIEST_BIRTH.1, EARLIEST_BIRTH.2)
        .expect("a valid constant date");
    if date > Utc::now().date_naive() {
        return Err("must not be in the future".into());
    }
    if date < earliest {
        return Err("must not be before 1900".into());
    }
    Ok(date)
}

/// Declares a text value that exists only parsed: built by `parse`, read by `as_str`.
macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $parse:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Parses `text` (trimmed); the error says what is wrong, for a validation error's
            /// `details`.
            pub fn parse(text: &str) -> Result<Self, String> {
                $parse(text).map(Self)
            }

            /// The value.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        // PHI: never printed by accident.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }
    };
}

text_value!(
    /// A medical record number: 1–64 letters, digits, `-`, `_`, `.` or `/`.
    MedicalRecordNumber,
    parse_mrn
);
text_value!(
    /// A phone number: 7–15 digits, optionally with `+`, spaces, dashes, dots and parentheses.
    PhoneNumber,
    parse_phone
);
text_value!(
    /// A person's given or family name: 1–100 characters, no control characters.
    PersonName,
    parse_person_name
);

fn parse_person_name(text: &str) -> Result<String, String> {
    super::parse_name(text, 100)
}

/// A medical record number: 1–64 letters, digits, `-`, `_`, `.` or `/`.
fn parse_mrn(text: &str) -> Result<String, String> {
    let mrn = text.trim();
    if mrn.is_empty() {
        return Err("must not be empty".into());
    }
    if mrn.chars().count() > 64 {
        return Err("must be at most 64 characters".into());
    }
    if !mrn
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    {
        return Err("may contain only letters, digits, -, _, . and /".into());
    }
    Ok(mrn.to_owned())
}

/// A phone number: 7–15 digits, optionally with `+`, spaces, dashes, dots and parentheses.
fn parse_phone(text: &str) -> Result<String, String> {
    let phone = text.trim();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')'));
    if !allowed || !(7..=15).contains(&digits) || phone.chars().count() > 25 {
        return Err("must be a phone number with 7 to 15 digits".into());
    }
    Ok(phone.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_birth_are_real_and_past() {
        assert!(parse_date_of_birth("2015-04-30").is_ok());
        assert!(parse_date_of_birth("2015-02-30").is_err());
        assert!(parse_date_of_birth("30/04/2015").is_err());
        assert!(parse_date_of_birth("1899-12-31").is_err());
        let tomorrow = Utc::now().date_naive() + chrono::Duration::days(1);
        assert!(parse_date_of_birth(&tomorrow.format("%Y-%m-%d").to_string()).is_err());
    }

    #[test]
    fn mrns_and_phones_are_checked() {
        assert_eq!(parse_mrn(" MRN-0042 ").as_deref(), Ok("MRN-0042"));
        assert!(parse_mrn("").is_err());
        assert!(parse_mrn("a b").is_err());
        assert!(parse_mrn(&"x".repeat(65)).is_err());
        assert!(parse_phone("+1 (555) 010-9999").is_ok());
        assert!(parse_phone("12345").is_err());
        assert!(parse_phone("555-CALL-NOW").is_err());
    }
}
