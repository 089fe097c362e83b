//! Before a run starts: whether the file systems of the artifact cache and the out folder can
//! hold what the run will write there. A real model's artifacts are hundreds of megabytes each;
//! running out of disk half-way would turn every later check into an error about apr.

use crate::config::Config;
use crate::schedule::model_bytes;
use std::path::{Path, PathBuf};
use tmgt_check::Quant;

/// What one artifact weighs against its source, as apr 0.72.3 makes them from a float32
/// model (SmolLM2-135M: source 538 MB; f32 `.apr`, GGUF export and round trip 652 MB each,
/// int8 164 MB, int4 93 MB): per quantization level, and the two GGUF-derived files.
const F32_RATIO: f64 = 1.25;
const INT8_RATIO: f64 = 0.31;
const INT4_RATIO: f64 = 0.18;

/// Bytes a run will write, by the folder they go to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Need {
    pub artifacts: u64,
    pub scratch: u64,
}

/// The estimate for `config` with `jobs` parallel instances: every artifact the profile's
/// models make that their cache folder does not hold yet, and `jobs + 1` copies of the
/// largest artifact in scratch.
pub fn estimate(config: &Config, jobs: usize) -> Need {
    let mut artifacts = 0.0;
    let mut largest = 0.0f64;
    for model in &config.models {
        let source = model_bytes(model) as f64;
        if model.provided.is_some() {
            largest = largest.max(source);
            continue;
        }
        let mut total = 0.0;
        for q in &model.quants {
            total += source
                * match q {
                    Quant::Int8 => INT8_RATIO,
                    Quant::Int4 | Quant::Q4k => INT4_RATIO,
                    Quant::F32 | Quant::Fp16 => F32_RATIO,
                };
        }
        // The GGUF export and its round trip.
        total += 2.0 * F32_RATIO * source;
        largest = largest.max(F32_RATIO * source);
        let cached = crate::usage::allocated_bytes(&config.artifacts_dir.join(&model.name)) as f64;
        artifacts += (total - cached).max(0.0);
    }
    Need {
        artifacts: artifacts as u64,
        scratch: ((jobs + 1) as f64 * largest) as u64,
    }
}

/// A run that does not fit on disk: where, how much it needs and how much is free.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the run needs about {:.2} GB on the file system of {what} but {:.2} GB are free \
     ({:.2} GB of artifacts not cached yet, {:.2} GB of scratch for {jobs} jobs)\n\
     help: free space there, point [paths].artifacts or --out at a larger disk, or lower --jobs",
    gb(*needed),
    gb(*available),
    gb(need.artifacts),
    gb(need.scratch)
)]
pub struct Refusal {
    /// The folders whose file system is short.
    pub what: String,
    pub needed: u64,
    pub available: u64,
    pub need: Need,
    pub jobs: usize,
}

fn gb(bytes: u64) -> f64 {
    bytes as f64 / 1e9
}

/// The refusal when the need does not fit: `free` answers a folder's available bytes and
/// device (of its nearest existing ancestor).
pub fn check(
    need: &Need,
    artifacts_dir: &Path,
    scratch_dir: &Path,
    jobs: usize,
    free: impl Fn(&Path) -> Option<(u64, u64)>,
) -> Result<(), Refusal> {
    let (Some((a_dev, a_free)), Some((s_dev, s_free))) = (free(artifacts_dir), free(scratch_dir))
    else {
        return Ok(());
    };
    let refuse = |what: String, needed: u64, available: u64| {
        Err(Refusal {
            what,
            needed,
            available,
            need: *need,
            jobs,
        })
    };
    if a_dev == s_dev {
        let needed = need.artifacts + need.scratch;
        if needed > a_free {
            return refuse(
                format!("{} and {}", artifacts_dir.display(), scratch_dir.display()),
                needed,
                a_free,
            );
        }
        return Ok(());
    }
    if need.artifacts > a_free {
        return refuse(artifacts_dir.display().to_string(), need.artifacts, a_free);
    }
    if need.scratch > s_free {
        return refuse(scratch_dir.display().to_string(), need.scratch, s_free);
    }
    Ok(())
}

/// The device and available bytes of the file system holding `path` (or its nearest
/// existing ancestor: the out folder may not exist yet).
pub fn free_space(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut at: PathBuf = path.to_path_buf();
    while !at.exists() {
        at = at.parent()?.to_path_buf();
    }
    let device = std::fs::metadata(&at).ok()?.dev();
    let stat = nix::sys::statvfs::statvfs(&at).ok()?;
    Some((device, stat.blocks_available() * stat.fragment_size()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEED: Need = Need {
        artifacts: 3_000_000_000,
        scratch: 2_000_000_000,
    };

    #[test]
    fn one_file_system_must_hold_both_and_the_refusal_says_what_and_how_to_fix_it() {
        let a = Path::new("/data/artifacts");
        let s = Path::new("/data/out/scratch");
        assert!(check(&NEED, a, s, 2, |_| Some((1, 6_000_000_000))).is_ok());
        let err = check(&NEED, a, s, 2, |_| Some((1, 4_000_000_000)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs about 5.00 GB"), "{err}");
        assert!(
            err.contains("/data/artifacts and /data/out/scratch"),
            "{err}"
        );
        assert!(err.contains("4.00 GB are free"), "{err}");
        assert!(err.contains("2.00 GB of scratch for 2 jobs"), "{err}");
        assert!(err.contains("lower --jobs"), "{err}");
    }

    #[test]
    fn two_file_systems_are_judged_apart() {
        let a = Path::new("/a");
        let s = Path::new("/s");
        let free = |p: &Path| {
            Some(if p == Path::new("/a") {
                (1, 3_500_000_000)
            } else {
                (2, 1_000_000_000)
            })
        };
        let err = check(&NEED, a, s, 2, free).unwrap_err().to_string();
        assert!(err.contains("file system of /s "), "{err}");
        assert!(check(&NEED, a, s, 2, |_| None).is_ok());
    }

    #[test]
    fn free_space_climbs_to_an_existing_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, bytes) = free_space(&tmp.path().join("not/yet/made")).unwrap();
        assert!(bytes > 0);
    }
}
