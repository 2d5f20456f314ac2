//! Civil dates and times to Unix time (proleptic Gregorian, UTC), without a date library.

/// Days from 1970-01-01 to `y-m-d` (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix milliseconds of a civil UTC time.
pub(crate) fn civil_to_unix_ms(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> i64 {
    let seconds = days_from_civil(y, mo, d) * 86_400
        + i64::from(h) * 3_600
        + i64::from(mi) * 60
        + i64::from(s);
    seconds * 1_000 + i64::from(ms)
}

/// `YYYY-MM-DD`.
pub(crate) fn parse_ymd(text: &str) -> Option<(i64, u32, u32)> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 {
        return None;
    }
    let (y, m, d) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// `HH:MM:SS`.
pub(crate) fn parse_hms(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (h, m, s): (u32, u32, u32) = (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?);
    (h < 24 && m < 60 && s <= 60).then_some((h, m, s))
}

/// `Jan` … `Dec` → 1 … 12.
pub(crate) fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|m| *m == name)
        .and_then(|i| u32::try_from(i + 1).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil_to_unix_ms(1970, 1, 1, 0, 0, 0, 0), 0);
        assert_eq!(civil_to_unix_ms(2000, 3, 1, 0, 0, 0, 0), 951_868_800_000);
        assert_eq!(
            civil_to_unix_ms(2026, 12, 1, 10, 0, 0, 5),
            1_796_119_200_005
        );
        assert_eq!(parse_ymd("2019-13-01"), None);
        assert_eq!(parse_hms("25:00:00"), None);
        assert_eq!(month_number("Oct"), Some(10));
    }
}
