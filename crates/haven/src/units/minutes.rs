//! Minutes to billable units: the CMS "8-minute rule", generalized to any unit length.
//!
//! Medicare bills timed codes in 15-minute units, and a unit counts once **more than half** of it
//! was delivered: 8 minutes is the least that bills one unit. Over a session the minutes are
//! totalled and then converted, so
//!
//! | minutes | units |
//! |---|---|
//! | 0–7 | 0 |
//! | 8–22 | 1 |
//! | 23–37 | 2 |
//! | 38–52 | 3 |
//! | … | one more every 15 minutes |
//!
//! For a unit of `m` minutes (an authorization's `unitMinutes`), a partial unit counts when at
//! least `⌊m/2⌋ + 1` of its minutes were delivered (8 of 15, 16 of 30, every minute of a 1-minute
//! unit), so `units = ⌊(minutes + m − (⌊m/2⌋ + 1)) / m⌋`. The result never exceeds what the
//! minutes allow: only a partial unit of more than half its length is rounded up.

/// The longest session Haven accepts, in minutes (a day).
pub const MAX_SESSION_MINUTES: u32 = 24 * 60;

/// The billable units of `minutes` of service, in units of `unit_minutes` (≥ 1).
#[must_use]
pub fn units_for_minutes(minutes: u32, unit_minutes: u32) -> u32 {
    let unit = unit_minutes.max(1);
    let least_partial = unit / 2 + 1;
    (minutes + unit - least_partial) / unit
}

/// Whether `units` of `unit_minutes` fit in one session ([`MAX_SESSION_MINUTES`]).
#[must_use]
pub fn fits_in_a_session(units: u32, unit_minutes: u32) -> bool {
    u64::from(units) * u64::from(unit_minutes) <= u64::from(MAX_SESSION_MINUTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifteen_minute_units_follow_the_cms_table() {
        let table = [
            (0, 0),
            (7, 0),
            (8, 1),
            (22, 1),
            (23, 2),
            (37, 2),
            (38, 3),
            (52, 3),
            (53, 4),
            (60, 4),
            (67, 4),
            (68, 5),
        ];
        for (minutes, units) in table {
            assert_eq!(units_for_minutes(minutes, 15), units, "{minutes} minutes");
        }
    }

    #[test]
    fn other_unit_lengths_count_a_partial_unit_past_its_half() {
        assert_eq!(units_for_minutes(15, 30), 0);
        assert_eq!(units_for_minutes(16, 30), 1);
        assert_eq!(units_for_minutes(45, 30), 1);
        assert_eq!(units_for_minutes(46, 30), 2);
        assert_eq!(units_for_minutes(7, 1), 7);
        assert_eq!(units_for_minutes(0, 1), 0);
    }

    #[test]
    fn units_never_exceed_what_the_minutes_allow() {
        for unit in 1..=60 {
            for minutes in 0..=300 {
                let units = units_for_minutes(minutes, unit);
                // Rounded up only past half a unit: at most one unit beyond the whole ones,
                // and that one only when more than half of it was delivered.
                assert!(
                    units * unit <= minutes + unit / 2,
                    "{minutes} min of {unit}"
                );
                assert!(units >= minutes / unit);
            }
        }
    }

    #[test]
    fn sessions_are_at_most_a_day() {
        assert!(fits_in_a_session(96, 15));
        assert!(!fits_in_a_session(97, 15));
        assert!(fits_in_a_session(1440, 1));
    }
}
