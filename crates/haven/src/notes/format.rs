//! What a note is: its type, its format and the sections each format requires, its status,
//! and the shape of ICD-10-CM diagnosis codes.

use std::collections::BTreeMap;

/// The most bytes of text one section may hold (64 KiB).
pub const MAX_SECTION_BYTES: usize = 64 * 1024;
/// The most diagnosis codes a note carries (a claim's limit).
pub const MAX_DIAGNOSIS_CODES: usize = 12;

macro_rules! named {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = $text] $variant,)*
        }

        impl $name {
            /// Every value.
            pub const ALL: &[Self] = &[$(Self::$variant),*];

            /// The stored and wire name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            /// Parses a stored or requested name.
            #[must_use]
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }
    };
}

named!(
    /// What kind of note. `PSYCHOTHERAPY` notes (HIPAA §164.501) are kept apart: only their
    /// author and the author's supervisor ever see them.
    NoteType {
        Progress => "PROGRESS",
        Intake => "INTAKE",
        TreatmentPlan => "TREATMENT_PLAN",
        AbaSession => "ABA_SESSION",
        Contact => "CONTACT",
        Discharge => "DISCHARGE",
        Psychotherapy => "PSYCHOTHERAPY",
    }
);

named!(
    /// How the note is structured.
    Format {
        Soap => "SOAP",
        Dap => "DAP",
        Birp => "BIRP",
        Girp => "GIRP",
        Free => "FREE",
    }
);

named!(
    /// Where a note is in its life.
    Status {
        Draft => "DRAFT",
        PendingCosign => "PENDING_COSIGN",
        Signed => "SIGNED",
        EnteredInError => "ENTERED_IN_ERROR",
    }
);

named!(
    /// What an addendum does.
    AddendumKind {
        Addendum => "ADDENDUM",
        Correction => "CORRECTION",
        LateEntry => "LATE_ENTRY",
    }
);

impl Format {
    /// The sections of the format, all required at signing, in reading order.
    #[must_use]
    pub const fn sections(self) -> &'static [&'static str] {
        match self {
            Self::Soap => &["subjective", "objective", "assessment", "plan"],
            Self::Dap => &["data", "assessment", "plan"],
            Self::Birp => &["behavior", "intervention", "response", "plan"],
            Self::Girp => &["goal", "intervention", "response", "plan"],
            Self::Free => &["text"],
        }
    }
}

/// The sections of a note: section name → text.
pub type Sections = BTreeMap<String, String>;

/// Checks `sections` against `format`: only the format's sections, each at most
/// [`MAX_SECTION_BYTES`]. Returns field (`sections.<name>`) → problem for each fault.
#[must_use]
pub fn section_problems(format: Format, sections: &Sections) -> Vec<(String, String)> {
    let allowed = format.sections();
    let mut problems = Vec::new();
    for (name, text) in sections {
        if !allowed.contains(&name.as_str()) {
            problems.push((
                format!("sections.{}", truncate(name)),
                format!(
                    "is not a section of {} (its sections: {})",
                    format.as_str(),
                    allowed.join(", ")
                ),
            ));
        } else if text.len() > MAX_SECTION_BYTES {
            problems.push((
                format!("sections.{name}"),
                format!("must be at most {MAX_SECTION_BYTES} bytes"),
            ));
        }
    }
    problems
}

/// The required sections of `format` that `sections` lacks or leaves blank, in order.
#[must_use]
pub fn missing_sections(format: Format, sections: &Sections) -> Vec<&'static str> {
    format
        .sections()
        .iter()
        .copied()
        .filter(|name| sections.get(*name).is_none_or(|t| t.trim().is_empty()))
        .collect()
}

fn truncate(name: &str) -> String {
    name.chars().take(40).collect()
}

/// Parses one ICD-10-CM shaped code: a letter other than U, a digit, a digit or letter, then
/// optionally a dot and one to four digits or letters (`F84.0`, `Z63.8`, `F41.1`). Upper-cases;
/// the dot may be omitted after the category (`F840` → `F84.0`).
pub fn parse_icd10(code: &str) -> Result<String, String> {
    let upper = code.trim().to_ascii_uppercase();
    let compact: String = upper.chars().filter(|c| *c != '.').collect();
    let dots = upper.matches('.').count();
    let bytes = compact.as_bytes();
    let shaped = (3..=7).contains(&bytes.len())
        && bytes[0].is_ascii_uppercase()
        && bytes[0] != b'U'
        && bytes[1].is_ascii_digit()
        && bytes.iter().all(u8::is_ascii_alphanumeric)
        && (dots == 0 || (dots == 1 && upper.find('.') == Some(3) && bytes.len() > 3));
    if !shaped {
        return Err(format!(
            "'{}' is not an ICD-10-CM code (like F84.0)",
            code.chars().take(16).collect::<String>()
        ));
    }
    Ok(if bytes.len() > 3 {
        format!("{}.{}", &compact[..3], &compact[3..])
    } else {
        compact
    })
}

/// Parses a list of codes: each shaped, no duplicates, at most [`MAX_DIAGNOSIS_CODES`].
pub fn parse_icd10_list(codes: &[String]) -> Result<Vec<String>, String> {
    if codes.len() > MAX_DIAGNOSIS_CODES {
        return Err(format!("at most {MAX_DIAGNOSIS_CODES} codes"));
    }
    let mut parsed: Vec<String> = Vec::with_capacity(codes.len());
    for code in codes {
        let code = parse_icd10(code)?;
        if parsed.contains(&code) {
            return Err(format!("{code} is listed twice"));
        }
        parsed.push(code);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd_codes_are_shaped_and_normalized() {
        assert_eq!(parse_icd10("f84.0"), Ok("F84.0".to_owned()));
        assert_eq!(parse_icd10("F840"), Ok("F84.0".to_owned()));
        assert_eq!(parse_icd10("Z63"), Ok("Z63".to_owned()));
        assert_eq!(parse_icd10("S72.001A"), Ok("S72.001A".to_owned()));
        for bad in [
            "",
            "F8",
            "84.0",
            "U07.1",
            "F84.00000",
            "F8.40",
            "F84..0",
            "F84-0",
            "F84.0;",
        ] {
            assert!(parse_icd10(bad).is_err(), "{bad} accepted");
        }
        assert!(parse_icd10_list(&["F84.0".into(), "f840".into()]).is_err());
        assert!(parse_icd10_list(&vec!["F84.0".to_owned(); 13]).is_err());
    }

    #[test]
    fn sections_must_belong_to_the_format_and_fit() {
        let mut sections = Sections::new();
        sections.insert("subjective".into(), "ok".into());
        sections.insert("text".into(), "not SOAP".into());
        sections.insert("plan".into(), "x".repeat(MAX_SECTION_BYTES + 1));
        let problems = section_problems(Format::Soap, &sections);
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["sections.plan", "sections.text"]);
        assert_eq!(
            missing_sections(Format::Soap, &sections),
            ["objective", "assessment"]
        );
        assert!(
            missing_sections(
                Format::Free,
                &Sections::from([("text".into(), " t ".into())])
            )
            .is_empty()
        );
    }

    #[test]
    fn names_parse_back() {
        for t in NoteType::ALL {
            assert_eq!(NoteType::parse(t.as_str()), Some(*t));
        }
        assert_eq!(Format::parse("soap"), None);
        assert_eq!(Status::parse("SIGNED"), Some(Status::Signed));
    }
}
