//! Go's `time.Duration` strings, the one parser for every duration an operator or a kubo
//! client writes (`Reprovider.Interval`-style config keys, `stats bw --interval`).
//!
//! Hand-written rather than a crate because kubo compatibility means Go's exact grammar:
//! `humantime` reads a different syntax (`1h 30min`) and refuses Go's fractions (`1.5h`). The
//! grammar is a sequence of decimal numbers, each with an optional fraction and a unit (`ns`,
//! `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), like `300ms`, `1.5h` or `2h45m`; `0` alone is zero.
//! Arithmetic is in integer nanoseconds, truncating fractions as Go does. Negative durations
//! are refused (nothing in chorus counts backwards).

use std::time::Duration;

use thiserror::Error;

/// A string that is not a Go duration chorus accepts.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid duration {input:?}: {reason} (Go durations like 300ms, 90s, 1h30m, 1.5h)")]
pub struct DurationError {
    /// What was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

const NANOS_PER: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration string.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let fail = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    let mut rest = input.trim();
    if let Some(unsigned) = rest.strip_prefix('+') {
        rest = unsigned;
    } else if rest.starts_with('-') {
        return Err(fail("negative durations are not allowed"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(fail("empty"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => {
                let len = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                f.split_at(len)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(fail("expected a number"));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(fail("missing unit"));
        }
        let per = NANOS_PER
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, n)| *n)
            .ok_or_else(|| fail("unknown unit"))?;
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| fail("number out of range"))?
        };
        let mut value = whole.checked_mul(per).ok_or_else(|| fail("too long"))?;
        // Go keeps fraction digits while they still matter to the nanosecond, then truncates.
        let mut scale: u128 = 1;
        let mut frac: u128 = 0;
        for digit in frac_part.bytes().take(30) {
            frac = frac * 10 + u128::from(digit - b'0');
            scale *= 10;
        }
        value += frac * per / scale;
        total = total.checked_add(value).ok_or_else(|| fail("too long"))?;
        rest = after;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| fail("too long"))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// The shortest Go duration string of `d` in one unit (`22h`, `90m`, `250ms`), which [`parse`]
/// reads back exactly; `0` for zero.
pub fn format_compact(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0".to_owned();
    }
    for (name, per) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if ns.is_multiple_of(per) {
            return format!("{}{name}", ns / per);
        }
    }
    format!("{ns}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_go_parses() {
        let ok = |s: &str, d: Duration| assert_eq!(parse(s), Ok(d), "{s}");
        ok("0", Duration::ZERO);
        ok("0s", Duration::ZERO);
        ok("1s", Duration::from_secs(1));
        ok("+5m", Duration::from_secs(300));
        ok("300ms", Duration::from_millis(300));
        ok("1.5h", Duration::from_secs(5400));
        ok(".5s", Duration::from_millis(500));
        ok("1.s", Duration::from_secs(1));
        ok("2h45m", Duration::from_secs(9900));
        ok("1h30m15s250ms", Duration::from_millis(5_415_250));
        ok("22h", Duration::from_secs(22 * 3600));
        ok("168h", Duration::from_secs(168 * 3600));
        ok("10us", Duration::from_micros(10));
        ok("10µs", Duration::from_micros(10));
        ok("10μs", Duration::from_micros(10));
        ok("7ns", Duration::from_nanos(7));
        // Fractions below a nanosecond are truncated, as Go does.
        ok("1.0000000009s", Duration::from_secs(1));
        ok("0.333333333333s", Duration::from_nanos(333_333_333));
    }

    #[test]
    fn refuses_what_go_refuses_and_negatives() {
        for bad in [
            "", "10", "1x", "h", ".", ".s", "1.5", "3d", "1h 30m", "-1h", "--1s", "1e3s", "s1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("99999999999999999999h").is_err());
    }

    #[test]
    fn compact_format_round_trips() {
        for d in [
            Duration::ZERO,
            Duration::from_secs(22 * 3600),
            Duration::from_secs(90),
            Duration::from_millis(250),
            Duration::from_micros(3),
            Duration::from_nanos(1_000_000_001),
        ] {
            assert_eq!(parse(&format_compact(d)), Ok(d), "{d:?}");
        }
        assert_eq!(format_compact(Duration::from_secs(5400)), "90m");
    }
}
