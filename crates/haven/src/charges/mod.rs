//! Charges (SPEC §6 "Charges"): the shapes of a claim line's codes, the reasons billing gives,
//! and why a charge operation did not happen. The data is `crate::store::charges`'s; who may
//! is `crate::policy::charges`'s. Holds are computed in SQL (`store::charges::reevaluate`),
//! run by the note transactions that change them and daily by [`holds`].

pub mod claims;
pub mod holds;

/// At most four modifiers on a line (837P SV101-3..6).
pub const MAX_MODIFIERS: usize = 4;
/// At most four diagnosis pointers on a line (837P SV107).
pub const MAX_POINTERS: usize = 4;

/// Why a charge operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    /// `expectedVersion` is not the charge's version (409 `CONFLICT`).
    #[error("the charge has changed")]
    StaleVersion,
    /// Not allowed in the charge's status (409 `INVALID_STATE`).
    #[error("cannot {action} a charge that is {status}")]
    InvalidState {
        /// The charge's status.
        status: String,
        /// What was tried.
        action: &'static str,
    },
    /// Two fee schedule entries of one payer, code and modifiers overlap (409 `CONFLICT`).
    #[error("overlapping fee schedule entries")]
    OverlappingFees,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The exclusion constraint refusing overlapping rates.
pub const FEE_OVERLAP_CONSTRAINT: &str = "fee_schedule_no_overlap";

/// A CPT/HCPCS code: 4–10 capital letters or digits (as an authorization's service code),
/// upper-cased.
pub fn parse_cpt(text: &str) -> Result<String, String> {
    let code = text.trim().to_ascii_uppercase();
    if (4..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err("must be a CPT/HCPCS code: 4–10 letters or digits".to_owned())
    }
}

/// Modifiers: at most four, each two letters or digits, no repeats; upper-cased.
pub fn parse_modifiers(list: &[String]) -> Result<Vec<String>, String> {
    if list.len() > MAX_MODIFIERS {
        return Err(format!("at most {MAX_MODIFIERS} modifiers"));
    }
    let mut parsed: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        let m = item.trim().to_ascii_uppercase();
        if m.len() != 2 || !m.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("{m:?} is not a modifier (two letters or digits)"));
        }
        if parsed.contains(&m) {
            return Err(format!("{m} is listed twice"));
        }
        parsed.push(m);
    }
    Ok(parsed)
}

/// Diagnosis pointers: one to four distinct positions, each within `codes` (1-based).
pub fn parse_pointers(list: &[i64], codes: usize) -> Result<Vec<i16>, String> {
    if list.is_empty() || list.len() > MAX_POINTERS {
        return Err(format!("give 1 to {MAX_POINTERS} pointers"));
    }
    let mut parsed: Vec<i16> = Vec::with_capacity(list.len());
    for &p in list {
        let within = usize::try_from(p).is_ok_and(|p| (1..=codes).contains(&p));
        let p = i16::try_from(p)
            .ok()
            .filter(|_| within)
            .ok_or_else(|| format!("{p} does not point at one of the {codes} diagnosis codes"))?;
        if parsed.contains(&p) {
            return Err(format!("{p} is listed twice"));
        }
        parsed.push(p);
    }
    Ok(parsed)
}

/// A place-of-service code: two digits.
pub fn parse_place_of_service(text: &str) -> Result<String, String> {
    let pos = text.trim();
    if pos.len() == 2 && pos.bytes().all(|b| b.is_ascii_digit()) {
        Ok(pos.to_owned())
    } else {
        Err("must be a two-digit place-of-service code".to_owned())
    }
}

/// A reason billing gives (hold, release, void): 1–500 characters once trimmed, no control
/// characters.
pub fn parse_reason(text: &str) -> Result<String, String> {
    let reason = text.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        Err("must be 1–500 characters, without control characters".to_owned())
    } else {
        Ok(reason.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_line_codes_are_shaped() {
        assert_eq!(parse_cpt(" 97153 "), Ok("97153".to_owned()));
        assert_eq!(parse_cpt("h2019"), Ok("H2019".to_owned()));
        assert!(parse_cpt("971").is_err());
        assert!(parse_cpt("97153-HO").is_err());
        assert_eq!(parse_modifiers(&["ho".into()]), Ok(vec!["HO".to_owned()]));
        assert!(parse_modifiers(&["HO".into(), "HO".into()]).is_err());
        assert!(parse_modifiers(&vec!["HO".to_owned(); 5]).is_err());
        assert!(parse_modifiers(&["HOX".into()]).is_err());
        assert_eq!(parse_pointers(&[2, 1], 2), Ok(vec![2, 1]));
        assert!(parse_pointers(&[3], 2).is_err());
        assert!(parse_pointers(&[0], 2).is_err());
        assert!(parse_pointers(&[], 2).is_err());
        assert!(parse_pointers(&[1, 2, 3, 4, 5], 12).is_err());
        assert!(parse_place_of_service("1").is_err());
        assert!(parse_reason(" ").is_err());
        assert!(parse_reason("line\nbreak").is_err());
    }
}
