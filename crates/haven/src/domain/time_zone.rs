//! IANA time zone names (`America/New_York`). The shape is checked here; whether the zone
//! exists is PostgreSQL's answer (`pg_timezone_names`, see `crate::store::time_zones`), the same
//! database that converts wall times with `AT TIME ZONE`.

/// A time zone name of the right shape: 1–64 characters of letters, digits, `_`, `-`, `+` and
/// `/`, starting with a letter (`UTC`, `Europe/Paris`, `America/Argentina/Buenos_Aires`).
pub fn parse_time_zone_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let shaped = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '/'))
        && !name.contains("//")
        && !name.ends_with('/');
    if shaped {
        Ok(name.to_owned())
    } else {
        Err("must be an IANA time zone name like America/New_York".into())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_time_zone_name;

    #[test]
    fn zone_names_are_shaped_like_iana_names() {
        for good in [
            "UTC",
            "America/New_York",
            "Etc/GMT+5",
            "America/Port-au-Prince",
        ] {
            assert!(parse_time_zone_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "America//X",
            "9Zone",
            "Europe/Paris/",
            "a b",
            "EST'",
        ] {
            assert!(parse_time_zone_name(bad).is_err(), "{bad}");
        }
    }
}
