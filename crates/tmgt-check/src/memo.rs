//! Compute-once values shared by worker threads: the first request computes, concurrent
//! requests for the same key wait for it, later ones get the stored value. The runner keeps
//! its apr calls, artifacts and oracles this way; checks keep in-process runtime results.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

#[derive(Debug)]
pub struct Memo<K, V> {
    slots: Mutex<HashMap<K, Arc<OnceLock<V>>>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// The value for `key`, computed by `init` if no request computed it before. The flag
    /// says whether this request is the one that ran `init`.
    pub fn get_or_init(&self, key: K, init: impl FnOnce() -> V) -> (V, bool) {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(slots.entry(key).or_default())
        };
        let mut ran = false;
        let value = slot.get_or_init(|| {
            ran = true;
            init()
        });
        (value.clone(), ran)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn concurrent_requests_compute_once() {
        let memo: Memo<&str, usize> = Memo::default();
        let runs = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let (v, _) = memo.get_or_init("k", || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        42
                    });
                    assert_eq!(v, 42);
                });
            }
        });
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(memo.get_or_init("k", || 0), (42, false));
        assert_eq!(memo.get_or_init("other", || 7), (7, true));
    }
}
