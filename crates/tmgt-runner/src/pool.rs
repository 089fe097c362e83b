//! The one worker pool of the runner: `jobs` threads taking indices off a shared list.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Calls `work` with each index of `order`, in that order, on up to `jobs` threads, and
/// returns when all are done. A worker stops taking indices when `work` returns `false`.
pub fn for_each(order: &[usize], jobs: usize, work: impl Fn(usize) -> bool + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(order.len().max(1)) {
            scope.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::SeqCst)) {
                    if !work(i) {
                        break;
                    }
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn every_index_runs_once_and_false_stops_a_worker() {
        let seen = Mutex::new(Vec::new());
        for_each(&[3, 1, 2, 0], 3, |i| {
            seen.lock().unwrap().push(i);
            true
        });
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3]);

        let ran = AtomicUsize::new(0);
        for_each(&[0, 1, 2, 3, 4], 1, |_| {
            ran.fetch_add(1, Ordering::SeqCst) < 1
        });
        assert_eq!(
            ran.into_inner(),
            2,
            "one worker stops after its first `false`"
        );
    }
}
