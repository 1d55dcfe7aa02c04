//! `borderless audit`: audit events since a time.

use std::process::ExitCode;

use super::{ConfigArg, fail, open, print};

pub async fn audit(since: Option<String>, limit: i64, c: ConfigArg) -> ExitCode {
    let since = match since.as_deref().map(parse_since).transpose() {
        Ok(s) => s.unwrap_or(0),
        Err(e) => return fail(e),
    };
    let inviter = match open(&c.path()).await {
        Ok(i) => i,
        Err(e) => return fail(format!("{e:#}")),
    };
    match inviter.dir.audit_since(since, limit).await {
        Ok(events) => {
            print(c.json, &events, || {
                events
                    .iter()
                    .map(|e| {
                        format!(
                            "{}  {:<28} {:<24} {} {}",
                            httpdate::fmt_http_date(
                                std::time::UNIX_EPOCH
                                    + std::time::Duration::from_secs(e.at.max(0) as u64)
                            ),
                            e.action,
                            e.actor,
                            e.target.as_deref().unwrap_or("-"),
                            e.detail
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `--since`: `30m`, `24h`, `7d`, a Unix time, or a date `YYYY-MM-DD` (UTC).
pub fn parse_since(raw: &str) -> Result<i64, String> {
    let now = borderless::session::now_unix();
    let raw = raw.trim();
    let bad = || format!("--since `{raw}`: use 30m, 24h, 7d, a Unix time or YYYY-MM-DD");
    if let Some((num, unit)) = raw
        .char_indices()
        .last()
        .filter(|(_, c)| c.is_ascii_alphabetic())
        .map(|(i, c)| (&raw[..i], c))
    {
        let n: i64 = num.parse().map_err(|_| bad())?;
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        return Ok(now - n * secs);
    }
    borderless::timestamp::parse_instant(raw).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_accepts_durations_dates_and_unix_times() {
        assert_eq!(parse_since("2026-11-21"), Ok(1_795_219_200));
        assert_eq!(parse_since("1970-01-01"), Ok(0));
        assert_eq!(parse_since("12345"), Ok(12345));
        let now = borderless::session::now_unix();
        assert!((parse_since("1h").expect("1h") - (now - 3600)).abs() <= 1);
        assert!(parse_since("yesterday").is_err());
        assert!(parse_since("2026-13-01").is_err());
    }
}
