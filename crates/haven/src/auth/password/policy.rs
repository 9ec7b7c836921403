//! The password policy, after NIST SP 800-63B §5.1.1: a length range, a strength estimate
//! (zxcvbn) that knows the user's own details, and no composition rules (no "one digit, one
//! symbol"), which the guideline advises against because they make passwords more predictable,
//! not stronger.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use zxcvbn::Score;

/// The fewest characters a password may have.
pub const MIN_LENGTH: usize = 12;
/// The most characters a password may have; longer ones are refused before the (costly) strength
/// estimate runs.
pub const MAX_LENGTH: usize = 128;

/// Names and email local parts shorter than this are not searched for in passwords: "al" or
/// "jo" would forbid countless good passphrases.
const MIN_PERSONAL_LENGTH: usize = 3;

/// Why a password was refused. The message completes the sentence "The password ..." (so it can
/// go into a validation error's `details.password` as is) and never repeats the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// Fewer than [`MIN_LENGTH`] characters.
    TooShort,
    /// More than [`MAX_LENGTH`] characters.
    TooLong,
    /// Contains the user's email address, its local part, or their first or last name.
    ContainsPersonalInfo,
    /// zxcvbn scores it below 3 (guessable in fewer than 10^10 attempts).
    TooGuessable {
        /// zxcvbn's warning and suggestions, when it has some: fixed English sentences, never
        /// parts of the password.
        feedback: Option<String>,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort => write!(f, "must be at least {MIN_LENGTH} characters"),
            Self::TooLong => write!(f, "must be at most {MAX_LENGTH} characters"),
            Self::ContainsPersonalInfo => {
                f.write_str("must not contain your email address or name")
            }
            Self::TooGuessable { feedback: None } => f.write_str("is too easy to guess"),
            Self::TooGuessable {
                feedback: Some(feedback),
            } => write!(f, "is too easy to guess: {feedback}"),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Checks a new password for the user with this email and name. Lengths count characters, not
/// bytes. Costs up to a few milliseconds of CPU (the strength estimate).
pub fn check_password(
    password: &SecretString,
    email: &str,
    first_name: &str,
    last_name: &str,
) -> Result<(), PolicyError> {
    let password = password.expose_secret();
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(PolicyError::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(PolicyError::TooLong);
    }

    let email = email.trim();
    let local_part = email.rsplit_once('@').map_or(email, |(local, _)| local);
    let personal = [email, local_part, first_name.trim(), last_name.trim()];
    let lowered = password.to_lowercase();
    if personal
        .iter()
        .filter(|item| item.chars().count() >= MIN_PERSONAL_LENGTH)
        .any(|item| lowered.contains(&item.to_lowercase()))
    {
        return Err(PolicyError::ContainsPersonalInfo);
    }

    let inputs: Vec<&str> = personal
        .into_iter()
        .filter(|item| !item.is_empty())
        .collect();
    let estimate = zxcvbn::zxcvbn(password, &inputs);
    if estimate.score() < Score::Three {
        return Err(PolicyError::TooGuessable {
            feedback: estimate.feedback().and_then(describe),
        });
    }
    Ok(())
}

/// zxcvbn's warning, then its suggestions, as one text; `None` when it has nothing to say.
fn describe(feedback: &zxcvbn::feedback::Feedback) -> Option<String> {
    let parts: Vec<String> = feedback
        .warning()
        .map(|warning| warning.to_string())
        .into_iter()
        .chain(feedback.suggestions().iter().map(ToString::to_string))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Result<(), PolicyError> {
        check_password(
            &SecretString::from(password),
            "harriet.tubman@example.org",
            "Genevieve",
            "Okonkwo",
        )
    }

    #[test]
    fn a_strong_passphrase_is_accepted() {
        assert_eq!(check("violet anchor mumble tractor sonnet"), Ok(()));
    }

    #[test]
    fn eleven_characters_are_too_short_even_when_they_take_more_bytes() {
        let password = "é".repeat(11);
        assert!(password.len() > MIN_LENGTH);
        assert_eq!(check(&password), Err(PolicyError::TooShort));
        assert_eq!(
            PolicyError::TooShort.to_string(),
            "must be at least 12 characters"
        );
    }

    #[test]
    fn more_than_128_characters_are_too_long_but_128_random_ones_pass() {
        let random: String = (0..6)
            .map(|_| super::super::generate().expose_secret().to_owned())
            .collect();
        let exactly: String = random.chars().take(MAX_LENGTH).collect();
        assert_eq!(check(&exactly), Ok(()));
        assert_eq!(
            check(&"x".repeat(MAX_LENGTH + 1)),
            Err(PolicyError::TooLong)
        );
    }

    #[test]
    fn a_long_but_guessable_password_is_refused_with_zxcvbn_feedback() {
        let error = check("passwordpassword").expect_err("guessable");
        let PolicyError::TooGuessable { feedback } = &error else {
            panic!("unexpected {error:?}");
        };
        assert!(feedback.is_some(), "zxcvbn explains why");
        let message = error.to_string();
        assert!(message.starts_with("is too easy to guess: "), "{message}");
        assert!(!message.contains("passwordpassword"), "{message}");
    }

    #[test]
    fn the_email_local_part_is_refused_in_any_case() {
        assert_eq!(
            check("quiet HARRIET.TUBMAN lantern"),
            Err(PolicyError::ContainsPersonalInfo)
        );
        assert_eq!(
            PolicyError::ContainsPersonalInfo.to_string(),
            "must not contain your email address or name"
        );
    }

    #[test]
    fn first_and_last_names_are_refused() {
        let first = check("purple genevieve kayak orbit");
        assert_eq!(first, Err(PolicyError::ContainsPersonalInfo));
        let last = check("okonkwo crimson bicycle fable");
        assert_eq!(last, Err(PolicyError::ContainsPersonalInfo));
    }

    #[test]
    fn names_shorter_than_three_characters_are_not_searched_for() {
        let result = check_password(
            &SecretString::from("algebraic walrus cinema thunder"),
            "al@example.org",
            "Al",
            "Wu",
        );
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn the_strength_estimate_knows_the_user_details() {
        // The last name reversed: not caught by the "contains" rule, and strong for zxcvbn
        // unless it knows the name.
        let password = "rittodsdlavroht1987";
        assert!(zxcvbn::zxcvbn(password, &[]).score() >= Score::Three);
        let result = check_password(
            &SecretString::from(password),
            "tq@example.org",
            "Ty",
            "Thorvaldsdottir",
        );
        assert!(
            matches!(result, Err(PolicyError::TooGuessable { .. })),
            "{result:?}"
        );
    }
}
