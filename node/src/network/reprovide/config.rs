//! What the reprovider announces and how often: kubo's `Reprovider.Interval` and
//! `Reprovider.Strategy`, and the bounds of the sweep.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chorus_storage::Pins;

/// How often every provider record is announced again: kubo's `Reprovider.Interval` (22 h,
/// under the 48 h lifetime DHT servers give a provider record, so one missed cycle is
/// survivable).
pub const DEFAULT_REPROVIDE_INTERVAL: Duration = Duration::from_secs(22 * 3600);

/// Delay before the first cycle of a node that never ran one: boxo's reprovider waits one
/// minute after start, so the routing table can fill first.
pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_secs(60);

/// Keys taken from the on-disk work list at once (one batch): bounds memory (a key is under
/// 100 bytes, so about 0.5 MiB per batch with its per-peer lists) and how much work a crash
/// can repeat. Our own number.
pub const DEFAULT_BATCH_KEYS: usize = 4096;

/// What to announce, with kubo's names and meanings (`Reprovider.Strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReprovideStrategy {
    /// Every block in the store (kubo's default).
    #[default]
    All,
    /// Every block reachable from a pin: the roots and, for recursive pins, every block of
    /// their DAGs that is present.
    Pinned,
    /// Only the pinned CIDs themselves (the roots), not their children.
    Roots,
}

impl ReprovideStrategy {
    /// kubo's name of the strategy.
    pub const fn name(self) -> &'static str {
        match self {
            ReprovideStrategy::All => "all",
            ReprovideStrategy::Pinned => "pinned",
            ReprovideStrategy::Roots => "roots",
        }
    }
}

impl fmt::Display for ReprovideStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A reprovide setting that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReprovideConfigError {
    /// Not one of `all`, `pinned`, `roots`.
    #[error("unknown reprovide strategy {0:?} (all, pinned or roots)")]
    Strategy(String),
    /// Not a duration such as `22h`, `1h30m`, `90s` or `0`.
    #[error(
        "invalid reprovide interval {0:?} (a Go duration like 22h, 1h30m, 1.5h, 90s; 0 disables)"
    )]
    Interval(String),
}

impl FromStr for ReprovideStrategy {
    type Err = ReprovideConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(ReprovideStrategy::All),
            "pinned" => Ok(ReprovideStrategy::Pinned),
            "roots" => Ok(ReprovideStrategy::Roots),
            other => Err(ReprovideConfigError::Strategy(other.to_owned())),
        }
    }
}

/// Parses kubo's `Reprovider.Interval`: a Go duration ([`crate::go_duration`]: `22h`,
/// `1h30m`, `1.5h`, `90s`) where `0` (or any zero duration) disables reproviding (`None`).
pub fn parse_interval(s: &str) -> Result<Option<Duration>, ReprovideConfigError> {
    let d =
        crate::go_duration::parse(s).map_err(|_| ReprovideConfigError::Interval(s.to_owned()))?;
    Ok((!d.is_zero()).then_some(d))
}

/// Formats `interval` the way [`parse_interval`] reads it (`0` for disabled).
pub fn format_interval(interval: Option<Duration>) -> String {
    crate::go_duration::format_compact(interval.unwrap_or_default())
}

/// Configuration of the reprovider (see [`NetworkConfig::with_reprovide`](super::super::NetworkConfig::with_reprovide)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReprovideConfig {
    /// Time between the starts of two cycles; `None` disables reproviding (kubo's `0`).
    pub interval: Option<Duration>,
    /// What to announce.
    pub strategy: ReprovideStrategy,
    /// The pin set `pinned` and `roots` read (without it they announce nothing).
    pub pins: Option<Pins>,
    /// See [`DEFAULT_INITIAL_DELAY`].
    pub initial_delay: Duration,
    /// See [`DEFAULT_BATCH_KEYS`].
    pub batch_keys: usize,
}

impl Default for ReprovideConfig {
    fn default() -> Self {
        ReprovideConfig {
            interval: Some(DEFAULT_REPROVIDE_INTERVAL),
            strategy: ReprovideStrategy::All,
            pins: None,
            initial_delay: DEFAULT_INITIAL_DELAY,
            batch_keys: DEFAULT_BATCH_KEYS,
        }
    }
}

impl ReprovideConfig {
    /// Reprovides by `strategy` every `interval` (`None`: never).
    pub fn new(interval: Option<Duration>, strategy: ReprovideStrategy) -> Self {
        ReprovideConfig {
            interval,
            strategy,
            ..ReprovideConfig::default()
        }
    }

    /// Reads pins from `pins` (needed by `pinned` and `roots`).
    pub fn with_pins(mut self, pins: Pins) -> Self {
        self.pins = Some(pins);
        self
    }

    /// Waits `delay` before the first cycle of a node without a previous one.
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Takes `n` keys per batch from the work list.
    pub fn with_batch_keys(mut self, n: usize) -> Self {
        self.batch_keys = n.max(1);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_like_kubo() {
        assert_eq!(parse_interval("0"), Ok(None));
        assert_eq!(parse_interval("0s"), Ok(None));
        assert_eq!(
            parse_interval("22h"),
            Ok(Some(Duration::from_secs(22 * 3600)))
        );
        assert_eq!(parse_interval("1h30m"), Ok(Some(Duration::from_secs(5400))));
        assert_eq!(
            parse_interval("250ms"),
            Ok(Some(Duration::from_millis(250)))
        );
        // kubo reads this key with Go's time.ParseDuration, fractions included.
        assert_eq!(parse_interval("1.5h"), Ok(Some(Duration::from_secs(5400))));
        for bad in ["", "h", "12", "3d", "-1h"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        for d in [
            None,
            Some(DEFAULT_REPROVIDE_INTERVAL),
            Some(Duration::from_secs(90)),
        ] {
            assert_eq!(parse_interval(&format_interval(d)), Ok(d));
        }
    }

    #[test]
    fn strategies_use_kubo_names() {
        for s in [
            ReprovideStrategy::All,
            ReprovideStrategy::Pinned,
            ReprovideStrategy::Roots,
        ] {
            assert_eq!(s.name().parse::<ReprovideStrategy>(), Ok(s));
        }
        assert!("flat".parse::<ReprovideStrategy>().is_err());
        assert_eq!(ReprovideStrategy::default(), ReprovideStrategy::All);
    }
}
