//! What tmgt itself costs, apart from the apr processes it runs.

use nix::sys::resource::{UsageWho, getrusage};
use std::time::Duration;
use tmgt_report::HarnessUsage;

/// CPU time and peak RSS of this process alone (`RUSAGE_SELF` excludes the apr children).
pub fn harness_usage(wall: Duration) -> HarnessUsage {
    let ms = |tv: nix::sys::time::TimeVal| {
        u64::try_from(tv.tv_sec()).unwrap_or(0) * 1000
            + u64::try_from(tv.tv_usec()).unwrap_or(0) / 1000
    };
    let millis = u64::try_from(wall.as_millis()).unwrap_or(u64::MAX);
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => HarnessUsage {
            wall_ms: millis,
            cpu_user_ms: ms(u.user_time()),
            cpu_system_ms: ms(u.system_time()),
            // Linux reports ru_maxrss in kilobytes.
            peak_rss_kb: u64::try_from(u.max_rss()).unwrap_or(0),
        },
        Err(_) => HarnessUsage {
            wall_ms: millis,
            cpu_user_ms: 0,
            cpu_system_ms: 0,
            peak_rss_kb: 0,
        },
    }
}
