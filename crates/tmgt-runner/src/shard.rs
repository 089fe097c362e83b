//! `--shard K/N`: one of N deterministic parts of the matrix, for CI matrices, Kubernetes
//! Indexed Jobs and Slurm arrays that run N copies of one command with an index (anchors:
//! cargo-nextest's `--partition`, pytest-split). Every copy computes the same partition from
//! the same inputs: the matrix, the checks' declared costs, the models' file sizes, and
//! `--durations REPORT` when given (never the out folder's own previous report, which differs
//! from machine to machine).
//!
//! Instances of one model and quantization level go together, so a shard prepares only the
//! artifacts it uses; a group costlier than half a shard's share is split into its instances,
//! so the greedy assignment (costliest first, to the least loaded shard) stays balanced.

use crate::config::Config;
use crate::matrix::Instance;
use std::collections::BTreeMap;
use tmgt_report::Report;

/// Shard `index` of `count`, both counted from 1 as people and CI matrices count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = || {
            format!(
                "`{text}` is not a shard: write K/N with 1 <= K <= N, e.g. 2/3 \
                 (from a 0-based index such as JOB_COMPLETION_INDEX, K = index + 1)"
            )
        };
        let (k, n) = text.trim().split_once('/').ok_or_else(usage)?;
        let index: usize = k.trim().parse().map_err(|_| usage())?;
        let count: usize = n.trim().parse().map_err(|_| usage())?;
        if index == 0 || count == 0 || index > count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard (0-based) of every instance, and each shard's expected cost.
#[derive(Debug, Clone)]
pub struct Partition {
    pub shard_of: Vec<usize>,
    pub load: Vec<f64>,
}

impl Partition {
    /// The costliest shard over the mean: 1.0 is a perfect split.
    pub fn imbalance(&self) -> f64 {
        let mean = self.load.iter().sum::<f64>() / self.load.len().max(1) as f64;
        let max = self.load.iter().copied().fold(0.0, f64::max);
        if mean > 0.0 { max / mean } else { 1.0 }
    }
}

pub fn partition(
    config: &Config,
    instances: &[Instance],
    durations: Option<&Report>,
    count: usize,
) -> Partition {
    let cost = crate::schedule::expected_ms(config, instances, durations);
    let total: f64 = cost.iter().sum();
    let share = total / count.max(1) as f64;
    // Groups by (model, level) in matrix order; global instances stand alone.
    let mut groups: BTreeMap<(usize, Option<String>), Vec<usize>> = BTreeMap::new();
    for (i, instance) in instances.iter().enumerate() {
        let key = match instance.model {
            Some(m) => (m, instance.quant.map(|q| q.as_str().to_string())),
            None => (usize::MAX - i, None),
        };
        groups.entry(key).or_default().push(i);
    }
    let mut units: Vec<Vec<usize>> = Vec::new();
    for members in groups.into_values() {
        let weight: f64 = members.iter().map(|i| cost[*i]).sum();
        if weight > share / 2.0 {
            units.extend(members.into_iter().map(|i| vec![i]));
        } else {
            units.push(members);
        }
    }
    let weight = |u: &Vec<usize>| u.iter().map(|i| cost[*i]).sum::<f64>();
    units.sort_by(|a, b| weight(b).total_cmp(&weight(a)).then(a[0].cmp(&b[0])));
    let mut shard_of = vec![0; instances.len()];
    let mut load: Vec<f64> = vec![0.0; count.max(1)];
    for unit in &units {
        let lightest = (0..load.len())
            .min_by(|a, b| load[*a].total_cmp(&load[*b]).then(a.cmp(b)))
            .unwrap_or(0);
        load[lightest] += weight(unit);
        for i in unit {
            shard_of[*i] = lightest;
        }
    }
    Partition { shard_of, load }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n_and_refuses_the_rest_with_the_fix() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!("2/3".parse::<Shard>().unwrap().to_string(), "2/3");
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("write K/N"), "{bad}: {err}");
        }
    }
}
