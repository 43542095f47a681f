//! The two ECMA-119 date formats: the 7-byte recording date of directory records (9.1.5, also
//! used by Rock Ridge TF entries) and the 17-byte digit form of volume descriptors (8.4.26.1).
//!
//! Both carry an offset from Greenwich Mean Time in 15-minute intervals; kit writes UTC (offset
//! 0) and readers subtract the offset. Times outside a format's range are clamped.

use std::fmt;

/// Seconds in a day.
const DAY_SECS: i64 = 86_400;

/// 9.1.5: recording date and time, 7 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordingDateTime {
    /// Byte 1: number of years since 1900 (so 1900 to 2155).
    pub(crate) years_since_1900: u8,
    /// Byte 2: month of the year, 1 to 12.
    pub(crate) month: u8,
    /// Byte 3: day of the month, 1 to 31.
    pub(crate) day: u8,
    /// Byte 4: hour of the day, 0 to 23.
    pub(crate) hour: u8,
    /// Byte 5: minute of the hour, 0 to 59.
    pub(crate) minute: u8,
    /// Byte 6: second of the minute, 0 to 59.
    pub(crate) second: u8,
    /// Byte 7: offset from GMT in 15-minute intervals, -48 (west) to +52 (east).
    pub(crate) gmt_offset_quarter_hours: i8,
}

/// 8.4.26.1: a volume descriptor date and time, 16 ASCII digits and an offset byte.
/// All digits `0` and offset 0 means "not specified" (8.4.26.1, last paragraph).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VolumeDateTime {
    /// Bytes 1-4: year, 1 to 9999 (0 when unset).
    pub(crate) year: u16,
    /// Bytes 5-6: month, 1 to 12.
    pub(crate) month: u8,
    /// Bytes 7-8: day of the month, 1 to 31.
    pub(crate) day: u8,
    /// Bytes 9-10: hour, 0 to 23.
    pub(crate) hour: u8,
    /// Bytes 11-12: minute, 0 to 59.
    pub(crate) minute: u8,
    /// Bytes 13-14: second, 0 to 59.
    pub(crate) second: u8,
    /// Bytes 15-16: hundredths of a second, 0 to 99.
    pub(crate) hundredths: u8,
    /// Byte 17: offset from GMT in 15-minute intervals, -48 to +52.
    pub(crate) gmt_offset_quarter_hours: i8,
}

impl RecordingDateTime {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 7;

    /// The UTC date of `unix_secs`, clamped to 1900-01-01T00:00:00 ..= 2155-12-31T23:59:59.
    pub(crate) fn from_unix(unix_secs: i64) -> RecordingDateTime {
        let clamped = unix_secs.clamp(Self::min_unix(), Self::max_unix());
        let civil = Civil::from_unix(clamped);
        RecordingDateTime {
            years_since_1900: u8::try_from(civil.year - 1900).unwrap_or(0),
            month: civil.month,
            day: civil.day,
            hour: civil.hour,
            minute: civil.minute,
            second: civil.second,
            gmt_offset_quarter_hours: 0,
        }
    }

    /// The earliest time the format holds, in Unix seconds.
    pub(crate) fn min_unix() -> i64 {
        days_from_civil(1900, 1, 1) * DAY_SECS
    }

    /// The latest time the format holds, in Unix seconds.
    pub(crate) fn max_unix() -> i64 {
        days_from_civil(2156, 1, 1) * DAY_SECS - 1
    }

    /// Seconds since the Unix epoch, or `None` when a field is out of range (an all-zero date,
    /// as some writers leave, is out of range).
    pub(crate) fn to_unix(self) -> Option<i64> {
        let civil = Civil {
            year: 1900 + i64::from(self.years_since_1900),
            month: self.month,
            day: self.day,
            hour: self.hour,
            minute: self.minute,
            second: self.second,
        };
        Some(civil.to_unix()? - i64::from(self.gmt_offset_quarter_hours) * 900)
    }

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        *out = [
            self.years_since_1900,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.gmt_offset_quarter_hours.to_le_bytes()[0],
        ];
    }

    /// Any 7 bytes decode; [`RecordingDateTime::to_unix`] checks the ranges.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> RecordingDateTime {
        RecordingDateTime {
            years_since_1900: bytes[0],
            month: bytes[1],
            day: bytes[2],
            hour: bytes[3],
            minute: bytes[4],
            second: bytes[5],
            gmt_offset_quarter_hours: i8::from_le_bytes([bytes[6]]),
        }
    }
}

impl VolumeDateTime {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 17;

    /// "Not specified": every digit `0`, offset 0.
    pub(crate) const UNSET: VolumeDateTime = VolumeDateTime {
        year: 0,
        month: 0,
        day: 0,
        hour: 0,
        minute: 0,
        second: 0,
        hundredths: 0,
        gmt_offset_quarter_hours: 0,
    };

    /// The UTC date of `unix_secs`, clamped to years 1 ..= 9999.
    pub(crate) fn from_unix(unix_secs: i64) -> VolumeDateTime {
        let min = days_from_civil(1, 1, 1) * DAY_SECS;
        let max = days_from_civil(10_000, 1, 1) * DAY_SECS - 1;
        let civil = Civil::from_unix(unix_secs.clamp(min, max));
        VolumeDateTime {
            year: u16::try_from(civil.year).unwrap_or(0),
            month: civil.month,
            day: civil.day,
            hour: civil.hour,
            minute: civil.minute,
            second: civil.second,
            hundredths: 0,
            gmt_offset_quarter_hours: 0,
        }
    }

    /// True for the "not specified" value.
    pub(crate) fn is_unset(&self) -> bool {
        *self == Self::UNSET
    }

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let digits = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}{:02}",
            self.year.min(9999),
            self.month.min(99),
            self.day.min(99),
            self.hour.min(99),
            self.minute.min(99),
            self.second.min(99),
            self.hundredths.min(99)
        );
        out[..16].copy_from_slice(digits.as_bytes());
        out[16] = self.gmt_offset_quarter_hours.to_le_bytes()[0];
    }

    /// Parses the digits. All-NUL or all-space digits (seen in the wild) read as unset.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> Result<VolumeDateTime, &'static str> {
        let digits = &bytes[..16];
        if digits.iter().all(|b| *b == 0 || *b == b' ') {
            return Ok(Self::UNSET);
        }
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err("volume date has a character other than a digit");
        }
        let number = |range: std::ops::Range<usize>| -> u16 {
            digits[range].iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'))
        };
        let small = |range| u8::try_from(number(range)).unwrap_or(u8::MAX);
        Ok(VolumeDateTime {
            year: number(0..4),
            month: small(4..6),
            day: small(6..8),
            hour: small(8..10),
            minute: small(10..12),
            second: small(12..14),
            hundredths: small(14..16),
            gmt_offset_quarter_hours: i8::from_le_bytes([bytes[16]]),
        })
    }
}

impl fmt::Display for VolumeDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unset() {
            return f.write_str("unset");
        }
        let offset_minutes = i32::from(self.gmt_offset_quarter_hours) * 15;
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:02} {sign}{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.hundredths,
            offset_minutes.abs() / 60,
            offset_minutes.abs() % 60
        )
    }
}

/// A proleptic Gregorian date and time of day.
struct Civil {
    year: i64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Civil {
    fn from_unix(unix_secs: i64) -> Civil {
        let days = unix_secs.div_euclid(DAY_SECS);
        let secs = unix_secs.rem_euclid(DAY_SECS);
        let (year, month, day) = civil_from_days(days);
        // secs < 86400, so each part fits in a u8.
        let part = |value: i64| u8::try_from(value).unwrap_or(0);
        Civil {
            year,
            month,
            day,
            hour: part(secs / 3600),
            minute: part(secs / 60 % 60),
            second: part(secs % 60),
        }
    }

    fn to_unix(&self) -> Option<i64> {
        let valid = (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60;
        if !valid {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        Some(
            days * DAY_SECS
                + i64::from(self.hour) * 3600
                + i64::from(self.minute) * 60
                + i64::from(self.second),
        )
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let month = i64::from(month);
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day number since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // 1 <= day <= 31 and 1 <= month <= 12 by construction.
    (year, u8::try_from(month).unwrap_or(1), u8::try_from(day).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(unix: i64) -> String {
        let date = RecordingDateTime::from_unix(unix);
        let mut bytes = [0u8; RecordingDateTime::SIZE];
        date.encode(&mut bytes);
        assert_eq!(RecordingDateTime::decode(&bytes), date);
        format!("{bytes:?} -> {:?}", date.to_unix())
    }

    #[test]
    fn recording_dates_round_trip_and_clamp() {
        assert_eq!(RecordingDateTime::SIZE, 7);
        // 1700000000 = 2023-11-14T22:13:20Z (date -u -d @1700000000).
        assert_eq!(recording(1_700_000_000), "[123, 11, 14, 22, 13, 20, 0] -> Some(1700000000)");
        assert_eq!(recording(0), "[70, 1, 1, 0, 0, 0, 0] -> Some(0)");
        assert_eq!(recording(-1), "[69, 12, 31, 23, 59, 59, 0] -> Some(-1)");
        // 1900-01-01 is -2208988800; 2156-01-01 is 5869584000 (date -u -d ... +%s).
        assert_eq!(recording(i64::MIN), "[0, 1, 1, 0, 0, 0, 0] -> Some(-2208988800)");
        assert_eq!(recording(9_000_000_000), "[255, 12, 31, 23, 59, 59, 0] -> Some(5869583999)");
        // 2000-02-29 (leap day) = 951782400.
        assert_eq!(recording(951_782_400), "[100, 2, 29, 0, 0, 0, 0] -> Some(951782400)");
    }

    #[test]
    fn offsets_and_invalid_fields() {
        // 2023-11-14 23:13:20 at GMT+1 (4 quarter hours) is 22:13:20Z.
        let date = RecordingDateTime::decode(&[123, 11, 14, 23, 13, 20, 4]);
        assert_eq!(date.to_unix(), Some(1_700_000_000));
        let west = RecordingDateTime::decode(&[123, 11, 14, 21, 13, 20, 0xfc]);
        assert_eq!(west.to_unix(), Some(1_700_000_000));
        assert_eq!(RecordingDateTime::decode(&[0; 7]).to_unix(), None);
        assert_eq!(RecordingDateTime::decode(&[123, 2, 30, 0, 0, 0, 0]).to_unix(), None);
    }

    #[test]
    fn volume_dates() {
        assert_eq!(VolumeDateTime::SIZE, 17);
        let mut bytes = [0u8; VolumeDateTime::SIZE];
        let date = VolumeDateTime::from_unix(1_700_000_000);
        date.encode(&mut bytes);
        assert_eq!(&bytes, b"2023111422132000\0");
        assert_eq!(VolumeDateTime::decode(&bytes), Ok(date));
        assert_eq!(date.to_string(), "2023-11-14 22:13:20.00 +00:00");
        VolumeDateTime::UNSET.encode(&mut bytes);
        assert_eq!(&bytes, b"0000000000000000\0");
        assert_eq!(VolumeDateTime::decode(&bytes).unwrap().to_string(), "unset");
        assert_eq!(VolumeDateTime::decode(&[b' '; 17]), Ok(VolumeDateTime::UNSET));
        assert!(VolumeDateTime::decode(b"2023-11-14 22:13\0").is_err());
        // Clamped to the years 1 ..= 9999.
        assert_eq!(
            VolumeDateTime::from_unix(i64::MAX).to_string(),
            "9999-12-31 23:59:59.00 +00:00"
        );
        assert_eq!(
            VolumeDateTime::from_unix(i64::MIN).to_string(),
            "0001-01-01 00:00:00.00 +00:00"
        );
        let mut west = bytes;
        VolumeDateTime::from_unix(0).encode(&mut west);
        west[16] = 0xe0; // -32 quarter hours: GMT-8.
        assert_eq!(
            VolumeDateTime::decode(&west).unwrap().to_string(),
            "1970-01-01 00:00:00.00 -08:00"
        );
    }
}
