//! The run's scratch folder (`OUT/scratch`): one folder per instance, made when the instance
//! first asks and removed when it ends, so scratch holds at most one instance's files per job
//! (a real model's damaged copies and scratch imports are hundreds of megabytes each). Nothing
//! is left after the run unless `--keep-scratch`.

use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Scratch {
    root: PathBuf,
    keep: bool,
}

impl Scratch {
    /// Empties `root` of an earlier run's leftovers.
    pub fn new(root: PathBuf, keep: bool) -> Scratch {
        let _ = std::fs::remove_dir_all(&root);
        Scratch { root, keep }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn keep(&self) -> bool {
        self.keep
    }

    /// The folder of instance `index`, made on demand.
    pub fn dir(&self, index: usize) -> std::io::Result<PathBuf> {
        let dir = self.root.join(format!("{index:05}"));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// The instance has ended: its files go, whatever its verdict (a ticket says how to remake
    /// a damaged copy).
    pub fn release(&self, index: usize) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(self.root.join(format!("{index:05}")));
        }
    }

    /// The run has ended (finished, interrupted or failed): the folder goes unless kept.
    /// Returns the bytes left behind.
    pub fn finish(&self) -> u64 {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.root);
        }
        crate::usage::allocated_bytes(&self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_folders_go_when_released_and_the_root_when_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let scratch = Scratch::new(tmp.path().join("scratch"), false);
        let a = scratch.dir(1).unwrap();
        std::fs::write(a.join("copy.apr"), vec![7u8; 8192]).unwrap();
        let b = scratch.dir(2).unwrap();
        std::fs::write(b.join("copy.gguf"), b"x").unwrap();
        scratch.release(1);
        assert!(!a.exists());
        assert!(b.exists());
        assert_eq!(scratch.finish(), 0);
        assert!(!scratch.root().exists());
    }

    #[test]
    fn kept_scratch_stays_and_is_counted() {
        let tmp = tempfile::tempdir().unwrap();
        let scratch = Scratch::new(tmp.path().join("scratch"), true);
        let a = scratch.dir(3).unwrap();
        std::fs::write(a.join("copy.apr"), vec![7u8; 8192]).unwrap();
        scratch.release(3);
        assert!(a.join("copy.apr").exists());
        assert!(scratch.finish() >= 8192);
    }
}
