//! FAT timestamps (fatgen103 §"Date and Time Formats"): a 16-bit date (years since 1980,
//! month, day) and a 16-bit time with 2-second resolution, both without a time zone.
//! kit stores UTC.

/// 1980-01-01T00:00:00Z, the earliest time FAT can store.
pub(crate) const MIN_UNIX_SECS: i64 = 315_532_800;
/// 2107-12-31T23:59:59Z, the end of the last day FAT can store (it stores 23:59:58).
pub(crate) const MAX_UNIX_SECS: i64 = 4_354_819_199;

const SECS_PER_DAY: i64 = 86_400;
/// Days from 1970-01-01 to 1980-01-01.
const DAYS_1970_TO_1980: i64 = 3_652;

/// A date and time as FAT directory entries store them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FatTime {
    /// Bits 15-9: years since 1980 (0-127); bits 8-5: month (1-12); bits 4-0: day (1-31).
    pub(crate) date: u16,
    /// Bits 15-11: hours (0-23); bits 10-5: minutes (0-59); bits 4-0: seconds / 2 (0-29).
    pub(crate) time: u16,
    /// Hundredths of a second to add to `time` (0-199): the odd second, for `DIR_CrtTimeTenth`.
    pub(crate) hundredths: u8,
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_year(year: i64) -> i64 {
    if is_leap(year) { 366 } else { 365 }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl FatTime {
    /// The FAT form of `unix_secs`, clamped to 1980-01-01 .. 2107-12-31 and rounded down to an
    /// even second (the odd second goes to `hundredths`).
    pub(crate) fn from_unix(unix_secs: i64) -> FatTime {
        let secs = unix_secs.clamp(MIN_UNIX_SECS, MAX_UNIX_SECS) - MIN_UNIX_SECS;
        let mut days = secs / SECS_PER_DAY;
        let secs_of_day = secs % SECS_PER_DAY;
        let mut year = 1980;
        while days >= days_in_year(year) {
            days -= days_in_year(year);
            year += 1;
        }
        let mut month = 1;
        while days >= days_in_month(year, month) {
            days -= days_in_month(year, month);
            month += 1;
        }
        let day = days + 1;
        let (hour, minute, second) = (secs_of_day / 3_600, secs_of_day / 60 % 60, secs_of_day % 60);
        // The clamp keeps year in 1980..=2107, so every field fits its bits.
        let field = |value: i64| u16::try_from(value).unwrap_or(0);
        FatTime {
            date: (field(year - 1980) << 9) | (field(month) << 5) | field(day),
            time: (field(hour) << 11) | (field(minute) << 5) | field(second / 2),
            hundredths: if second % 2 == 1 { 100 } else { 0 },
        }
    }

    /// Seconds since the Unix epoch of a FAT date and time (and `hundredths`, rounded down to
    /// whole seconds). Month or day 0, which some writers leave, count as 1; other out-of-range
    /// values are taken arithmetically, as Linux does.
    pub(crate) fn to_unix(self) -> i64 {
        let year = 1980 + i64::from(self.date >> 9);
        let month = i64::from((self.date >> 5) & 0x0f).max(1);
        let day = i64::from(self.date & 0x1f).max(1);
        let mut days = DAYS_1970_TO_1980;
        for y in 1980..year {
            days += days_in_year(y);
        }
        for m in 1..month.min(13) {
            days += days_in_month(year, m);
        }
        days += day - 1;
        let hour = i64::from(self.time >> 11);
        let minute = i64::from((self.time >> 5) & 0x3f);
        let second = i64::from(self.time & 0x1f) * 2 + i64::from(self.hundredths / 100);
        days * SECS_PER_DAY + hour * 3_600 + minute * 60 + second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(unix_secs: i64) -> String {
        let t = FatTime::from_unix(unix_secs);
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}+{} -> {}",
            1980 + (t.date >> 9),
            (t.date >> 5) & 0x0f,
            t.date & 0x1f,
            t.time >> 11,
            (t.time >> 5) & 0x3f,
            (t.time & 0x1f) * 2,
            t.hundredths,
            t.to_unix()
        )
    }

    #[test]
    fn dates_clamp_and_round_trip() {
        // Expected calendar dates from `date -u -d @SECS`.
        assert_eq!(show(0), "1980-01-01 00:00:00+0 -> 315532800");
        assert_eq!(show(MIN_UNIX_SECS), "1980-01-01 00:00:00+0 -> 315532800");
        assert_eq!(show(1_700_000_000), "2023-11-14 22:13:20+0 -> 1700000000");
        assert_eq!(show(1_700_000_001), "2023-11-14 22:13:20+100 -> 1700000001");
        assert_eq!(show(951_782_400), "2000-02-29 00:00:00+0 -> 951782400");
        assert_eq!(show(4_102_444_800), "2100-01-01 00:00:00+0 -> 4102444800");
        assert_eq!(show(4_107_542_399), "2100-02-28 23:59:58+100 -> 4107542399");
        assert_eq!(show(4_107_542_400), "2100-03-01 00:00:00+0 -> 4107542400");
        assert_eq!(show(MAX_UNIX_SECS), "2107-12-31 23:59:58+100 -> 4354819199");
        assert_eq!(show(i64::MAX), "2107-12-31 23:59:58+100 -> 4354819199");
        assert_eq!(show(i64::MIN), "1980-01-01 00:00:00+0 -> 315532800");
    }

    #[test]
    fn zero_month_and_day_read_as_first() {
        assert_eq!(FatTime { date: 0, time: 0, hundredths: 0 }.to_unix(), MIN_UNIX_SECS);
    }
}
