//! The order instances start in: the costliest first (longest-processing-time-first), so the
//! longest calls do not start last and decide the tail. An instance's cost is its duration in
//! the previous report of the same out folder when it has one; otherwise its check's declared
//! cost times the size of its model's files, scaled to milliseconds by the instances both
//! sources know. Results still land in matrix order whatever order they run in.

use crate::config::Config;
use crate::matrix::Instance;
use std::collections::HashMap;
use tmgt_check::ModelUnderTest;
use tmgt_report::Report;

/// The start order and what each instance is expected to cost.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Indices into the instances, costliest first (matrix order among equals).
    pub order: Vec<usize>,
    /// Each instance's expected cost, by instance index (milliseconds once a report is known;
    /// relative units before): the progress display's ETA weighs what is left by it.
    pub cost: Vec<f64>,
}

pub fn plan(config: &Config, instances: &[Instance], previous: Option<&Report>) -> Plan {
    let cost = expected_ms(config, instances, previous);
    let mut order: Vec<usize> = (0..instances.len()).collect();
    order.sort_by(|a, b| cost[*b].total_cmp(&cost[*a]));
    Plan { order, cost }
}

/// Each instance's expected duration (milliseconds, or relative units before any report).
pub(crate) fn expected_ms(
    config: &Config,
    instances: &[Instance],
    previous: Option<&Report>,
) -> Vec<f64> {
    let sizes: Vec<f64> = config
        .models
        .iter()
        .map(|m| model_bytes(m) as f64)
        .collect();
    let largest = sizes.iter().copied().fold(1.0, f64::max);
    let estimate: Vec<f64> = instances
        .iter()
        .map(|i| {
            let bytes = i.model.map_or(largest, |m| sizes[m]).max(1.0);
            f64::from(i.check.meta.cost) * bytes
        })
        .collect();
    let measured: HashMap<&str, u64> = previous
        .map(|r| {
            r.results
                .iter()
                .map(|r| (r.id.as_str(), r.duration_ms))
                .collect()
        })
        .unwrap_or_default();
    let known: Vec<Option<f64>> = instances
        .iter()
        .map(|i| measured.get(i.id(config).as_str()).map(|ms| *ms as f64))
        .collect();
    // Milliseconds per estimate unit, from the instances both sources know.
    let (sum_ms, sum_units) = known
        .iter()
        .zip(&estimate)
        .filter_map(|(k, e)| k.map(|k| (k, *e)))
        .fold((0.0, 0.0), |(a, b), (k, e)| (a + k, b + e));
    let scale = if sum_units > 0.0 {
        sum_ms / sum_units
    } else {
        1.0
    };
    known
        .into_iter()
        .zip(estimate)
        .map(|(k, e)| k.unwrap_or(e * scale))
        .collect()
}

/// The bytes of the files a model is made from (its folder's files or its given file); what
/// an apr call on it costs grows with them.
pub fn model_bytes(model: &ModelUnderTest) -> u64 {
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    if let Some(file) = &model.provided {
        return size(file);
    }
    let Some(dir) = model.local_dir() else {
        return 0;
    };
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| size(&e.path())).sum())
        .unwrap_or(0)
}
