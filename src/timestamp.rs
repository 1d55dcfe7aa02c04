//! Instants operators type: an RFC 3339 timestamp (`2027-03-31T17:00:00Z`, any offset), a
//! date (`2027-03-31`, UTC midnight) or Unix seconds. Parsed by chrono, not by hand.

use chrono::{DateTime, NaiveDate};

/// Unix seconds of `raw`, or a message that says what is accepted.
pub fn parse_instant(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    if let Ok(t) = raw.parse::<i64>() {
        return Ok(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp());
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc().timestamp());
    }
    Err(format!(
        "`{raw}` is not a time: use 2027-03-31T17:00:00Z (RFC 3339), 2027-03-31 or Unix seconds"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_dates_and_unix_seconds() {
        assert_eq!(parse_instant("1970-01-01"), Ok(0));
        assert_eq!(parse_instant("2026-11-21"), Ok(1_795_219_200));
        assert_eq!(parse_instant("2026-11-21T00:00:05Z"), Ok(1_795_219_205));
        assert_eq!(
            parse_instant("2026-11-21T01:00:05+01:00"),
            Ok(1_795_219_205)
        );
        assert_eq!(parse_instant("12345"), Ok(12345));
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "tomorrow",
            "",
            "2026-11-21T25:00:00Z",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }
}
