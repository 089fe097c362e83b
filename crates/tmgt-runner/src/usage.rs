//! What tmgt itself costs, apart from the apr processes it runs.

use nix::sys::resource::{UsageWho, getrusage};
use std::time::Duration;
use tmgt_report::HarnessUsage;

/// CPU time and peak RSS of this process alone (`RUSAGE_SELF` excludes the apr children), with
/// the share llama.cpp took in-process.
pub fn harness_usage(wall: Duration) -> HarnessUsage {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let timeval_ms = |tv: nix::sys::time::TimeVal| {
        u64::try_from(tv.tv_sec()).unwrap_or(0) * 1000
            + u64::try_from(tv.tv_usec()).unwrap_or(0) / 1000
    };
    let mut usage = HarnessUsage {
        wall_ms: millis(wall),
        runtime_cpu_ms: millis(llamacpp_runtime::cpu_time()),
        ..HarnessUsage::default()
    };
    if let Ok(u) = getrusage(UsageWho::RUSAGE_SELF) {
        usage.cpu_user_ms = timeval_ms(u.user_time());
        usage.cpu_system_ms = timeval_ms(u.system_time());
        // Linux reports ru_maxrss in kilobytes.
        usage.peak_rss_kb = u64::try_from(u.max_rss()).unwrap_or(0);
    }
    usage
}
