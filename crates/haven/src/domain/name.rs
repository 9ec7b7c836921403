//! Names of people and organizations.

/// Trims `raw` and checks it is 1..=`max` characters without control characters; the error
/// says what is wrong, for the `details` of a validation error.
pub fn parse_name(raw: &str, max: usize) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::parse_name;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("  Dana  ", 100).as_deref(), Ok("Dana"));
        assert!(parse_name("   ", 100).is_err());
        assert!(parse_name(&"x".repeat(101), 100).is_err());
        assert!(parse_name("a\u{0}b", 100).is_err());
    }
}
