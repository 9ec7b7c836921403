//! Local wall-clock times of weekly rules (`09:00`, `17:30`, `24:00`) and days of the week.
//! They stay wall times: the instant one stands for on a given date is computed in SQL with
//! `AT TIME ZONE` in the rule's IANA zone, so `09:00` is 09:00 on both sides of a DST change.

/// A wall time `HH:MM` from `00:00` to `24:00` (the end of the day), as minutes since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WallTime(u16);

impl WallTime {
    /// Parses `HH:MM`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || "must be a time HH:MM from 00:00 to 24:00".to_owned();
        let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        if m > 59 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(Self(h * 60 + m))
    }

    /// `HH:MM`, as PostgreSQL's `time` reads it (`24:00` included).
    #[must_use]
    pub fn to_text(self) -> String {
        format!("{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// The ISO day (1 = Monday … 7 = Sunday) of a two-letter iCalendar day name (`MO` … `SU`).
pub fn parse_day(text: &str) -> Result<i16, String> {
    const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(text.trim()))
        .and_then(|i| i16::try_from(i + 1).ok())
        .ok_or_else(|| "days must be MO, TU, WE, TH, FR, SA or SU".to_owned())
}

/// The two-letter name of ISO day `day`.
#[must_use]
pub fn day_name(day: i16) -> &'static str {
    match day {
        1 => "MO",
        2 => "TU",
        3 => "WE",
        4 => "TH",
        5 => "FR",
        6 => "SA",
        _ => "SU",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_times_run_from_midnight_to_the_end_of_the_day() {
        assert_eq!(
            WallTime::parse("09:00").map(WallTime::to_text).as_deref(),
            Ok("09:00")
        );
        assert_eq!(
            WallTime::parse("24:00").map(WallTime::to_text).as_deref(),
            Ok("24:00")
        );
        for bad in ["9:00", "24:30", "12:60", "noon", "12:00:00", ""] {
            assert!(WallTime::parse(bad).is_err(), "{bad}");
        }
        assert!(WallTime::parse("08:59") < WallTime::parse("09:00"));
    }

    #[test]
    fn days_are_iso_numbered() {
        assert_eq!(parse_day("MO"), Ok(1));
        assert_eq!(parse_day("su"), Ok(7));
        assert!(parse_day("XX").is_err());
        assert_eq!(day_name(3), "WE");
    }
}
