//! Retries with exponential backoff, bounded in attempts and in total time.
//!
//! Retried: HTTP 5xx, 429 (honouring a `Retry-After` given in seconds) and transport failures
//! such as refused or dropped connections. Not retried: other 4xx answers and content that does
//! not match its digest (a registry serving wrong bytes will serve them again).

use std::time::Duration;

/// How often and how long to retry a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (at least 1).
    pub max_attempts: u32,
    /// The delay before the second attempt; each later delay doubles it.
    pub initial_delay: Duration,
    /// The longest single delay, also the cap for a server's `Retry-After`.
    pub max_delay: Duration,
    /// The most time spent waiting between attempts of one request, in all.
    pub max_total_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 250 ms doubling up to 10 s, at most 30 s of waiting in all.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            max_total_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> RetryPolicy {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// The delay before attempt `next_attempt` (2 for the first retry), or `None` when the
    /// policy allows no further attempt. `retry_after` is the server's request, if any;
    /// `waited` is the delay already spent on this request.
    pub fn delay(
        &self,
        next_attempt: u32,
        retry_after: Option<Duration>,
        waited: Duration,
    ) -> Option<Duration> {
        if next_attempt > self.max_attempts.max(1) {
            return None;
        }
        let exponent = next_attempt.saturating_sub(2).min(20);
        let backoff = self.initial_delay.saturating_mul(1_u32 << exponent).min(self.max_delay);
        let delay = match retry_after {
            Some(asked) => asked.min(self.max_delay).max(backoff.min(asked)),
            None => backoff,
        };
        if waited.saturating_add(delay) > self.max_total_delay {
            return None;
        }
        Some(delay)
    }
}

/// Parses a `Retry-After` header given as delay-seconds; HTTP dates are not honoured (kit reads
/// no wall clock here) and yield `None`, so the normal backoff applies.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            max_total_delay: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_stops_after_max_attempts() {
        let p = policy();
        let zero = Duration::ZERO;
        assert_eq!(p.delay(2, None, zero), Some(Duration::from_millis(100)));
        assert_eq!(p.delay(3, None, zero), Some(Duration::from_millis(200)));
        assert_eq!(p.delay(4, None, zero), Some(Duration::from_millis(300)));
        assert_eq!(p.delay(5, None, zero), None);
    }

    #[test]
    fn retry_after_is_honoured_within_the_cap_and_budget() {
        let p = policy();
        let zero = Duration::ZERO;
        assert_eq!(
            p.delay(2, Some(Duration::from_millis(250)), zero),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            p.delay(2, Some(Duration::from_secs(60)), zero),
            Some(Duration::from_millis(300))
        );
        assert_eq!(p.delay(2, Some(Duration::ZERO), zero), Some(Duration::ZERO));
        assert_eq!(p.delay(3, None, Duration::from_millis(900)), None);
    }

    #[test]
    fn retry_after_seconds_only() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn none_never_retries() {
        assert_eq!(RetryPolicy::none().delay(2, None, Duration::ZERO), None);
    }
}
