//! When a room sends what it has queued for its members.

use std::time::Duration;

/// Frames queued for members go out together, at most one flush per this long: a quiet room
/// sends at once, a busy one batches up to this much.
pub const FLUSH_EVERY: Duration = Duration::from_millis(10);

/// A room whose last flush is at least this far back is quiet: its next frame goes out at once.
/// A busier room (more than about 50 messages a second) waits [`FLUSH_EVERY`] from its first
/// frame, so each flush carries what came meanwhile: one write per member for several messages.
/// Measured (docs/PERFORMANCE.md, *Coalescing in busy rooms*): 1,000 members at 100 msg/s took
/// about half the writes and 30% less CPU, for 5-7 ms more median delivery.
const QUIET_AFTER: Duration = Duration::from_millis(20);

/// How long a room whose last flush was `since_last` ago waits before the next one.
pub(super) fn flush_delay(since_last: Duration) -> Duration {
    if since_last >= QUIET_AFTER {
        Duration::ZERO
    } else {
        FLUSH_EVERY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_room_sends_at_once_and_a_busy_one_waits_for_company() {
        assert_eq!(flush_delay(Duration::from_secs(5)), Duration::ZERO);
        assert_eq!(flush_delay(QUIET_AFTER), Duration::ZERO);
        assert_eq!(flush_delay(Duration::from_millis(19)), FLUSH_EVERY);
        assert_eq!(flush_delay(Duration::ZERO), FLUSH_EVERY);
    }
}
