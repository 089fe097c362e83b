//! What tmgt itself costs, apart from the apr processes it runs.

use nix::sys::resource::{UsageWho, getrusage};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use tmgt_report::HarnessUsage;

/// How often the sampler looks: scratch copies of a real model live for seconds, and a
/// 50 ms walk of a folder of a few files costs microseconds.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// The peaks no counter of the kernel keeps: the harness's resident set while the run's
/// checks ran (llama.cpp lives in its workers, so this is tmgt's own memory), and the
/// scratch folder's bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peaks {
    harness_rss_bytes: u64,
    scratch_bytes: u64,
}

impl Peaks {
    fn sample(&mut self, scratch: &Path) {
        if let Some(rss) = resident_bytes() {
            self.harness_rss_bytes = self.harness_rss_bytes.max(rss);
        }
        self.scratch_bytes = self.scratch_bytes.max(allocated_bytes(scratch));
    }
}

/// A thread sampling [`Peaks`] until [`Sampler::finish`].
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Peaks>,
}

impl Sampler {
    pub fn start(scratch: PathBuf) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peaks = Peaks::default();
            while !flag.load(Ordering::Relaxed) {
                peaks.sample(&scratch);
                std::thread::sleep(SAMPLE_EVERY);
            }
            peaks.sample(&scratch);
            peaks
        });
        Sampler { stop, thread }
    }

    pub fn finish(self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// This process's resident set now (`/proc/self/statm`), Linux only.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()?;
    Some(pages * u64::try_from(page).ok()?)
}

/// The disk blocks a folder's files take (sparse holes excluded); 0 for a missing folder.
pub fn allocated_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => allocated_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// CPU time and peak RSS of this process alone (`RUSAGE_SELF` excludes the apr children and
/// the llama.cpp workers), the workers' own CPU and peak RSS as they reported them, the
/// sampled peaks, and the scratch bytes left.
pub fn harness_usage(
    wall: Duration,
    jobs: usize,
    largest_input_bytes: u64,
    peaks: Peaks,
    scratch_left_bytes: u64,
) -> HarnessUsage {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let timeval_ms = |tv: nix::sys::time::TimeVal| {
        u64::try_from(tv.tv_sec()).unwrap_or(0) * 1000
            + u64::try_from(tv.tv_usec()).unwrap_or(0) / 1000
    };
    let runtime = llamacpp_runtime::usage();
    let mut usage = HarnessUsage {
        wall_ms: millis(wall),
        runtime_cpu_ms: millis(runtime.cpu),
        peak_harness_rss_kb: peaks.harness_rss_bytes / 1024,
        peak_runtime_kb: runtime.peak_worker_rss_kb,
        runtime_workers: runtime.workers,
        runtime_faults: runtime.faults,
        peak_scratch_bytes: peaks.scratch_bytes,
        scratch_left_bytes,
        jobs: jobs as u64,
        largest_input_bytes,
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
