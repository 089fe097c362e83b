//! The parity matrix: results grouped by model, quantization level and suite.

use crate::schema::{Report, ReportVerdict, SuiteCounts};
use std::collections::BTreeMap;

/// The row of results with no model (global checks).
pub const GLOBAL: &str = "(global)";
/// The quantization column of results with no quantization level (model-wide checks).
pub const ANY_QUANT: &str = "—";

const QUANT_ORDER: [&str; 5] = ["f32", "fp16", "int8", "int4", "q4k"];

/// One cell: every result of one model, quantization level and suite.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub counts: SuiteCounts,
    /// Indices into `Report::results`, in report order.
    pub results: Vec<usize>,
}

impl Cell {
    /// The verdict that colours the cell: its worst result's.
    pub fn worst(&self) -> ReportVerdict {
        ReportVerdict::ALL
            .into_iter()
            .find(|v| self.counts.get(*v) > 0)
            .unwrap_or(ReportVerdict::Pass)
    }

    /// `3/4` (passing over all) or just `4` when all passed.
    pub fn label(&self) -> String {
        let total = self.counts.total();
        let ok = self.counts.pass + self.counts.xfail + self.counts.skip + self.counts.xpass;
        if ok == total {
            total.to_string()
        } else {
            format!("{}/{total}", total - ok)
        }
    }

    /// Counts for a tooltip: `2 pass, 1 fail`.
    pub fn describe(&self) -> String {
        ReportVerdict::ALL
            .into_iter()
            .filter(|v| self.counts.get(*v) > 0)
            .map(|v| format!("{} {v}", self.counts.get(v)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A row: one model at one quantization level.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowKey {
    pub model: String,
    pub quant: String,
}

#[derive(Debug, Clone)]
pub struct Matrix {
    pub rows: Vec<RowKey>,
    pub suites: Vec<String>,
    pub cells: BTreeMap<(usize, usize), Cell>,
}

impl Matrix {
    pub fn of(report: &Report) -> Matrix {
        let mut models = config_names(report, "models");
        let mut suites = config_strings(report, "suites");
        for r in &report.results {
            let model = r.model.clone().unwrap_or_else(|| GLOBAL.to_string());
            if !models.contains(&model) {
                models.push(model);
            }
            if !suites.contains(&r.suite) {
                suites.push(r.suite.clone());
            }
        }
        // Only suites and rows that have results.
        suites.retain(|s| report.results.iter().any(|r| &r.suite == s));
        let mut rows: Vec<RowKey> = Vec::new();
        for r in &report.results {
            let key = row_key(r.model.as_deref(), r.quant.as_deref());
            if !rows.contains(&key) {
                rows.push(key);
            }
        }
        rows.sort_by_key(|k| {
            (
                models
                    .iter()
                    .position(|m| *m == k.model)
                    .unwrap_or(usize::MAX),
                quant_rank(&k.quant),
                k.quant.clone(),
            )
        });
        let mut cells: BTreeMap<(usize, usize), Cell> = BTreeMap::new();
        for (i, r) in report.results.iter().enumerate() {
            let key = row_key(r.model.as_deref(), r.quant.as_deref());
            let row = rows.iter().position(|k| *k == key).unwrap_or_default();
            let col = suites
                .iter()
                .position(|s| *s == r.suite)
                .unwrap_or_default();
            let cell = cells.entry((row, col)).or_default();
            cell.counts.add(r.verdict);
            cell.results.push(i);
        }
        Matrix {
            rows,
            suites,
            cells,
        }
    }

    pub fn cell(&self, row: usize, col: usize) -> Option<&Cell> {
        self.cells.get(&(row, col))
    }

    /// The stable key of a cell, as result entries in the HTML name it.
    pub fn cell_key(&self, row: usize, col: usize) -> String {
        let r = &self.rows[row];
        format!("{}|{}|{}", r.model, r.quant, self.suites[col])
    }
}

pub fn row_key(model: Option<&str>, quant: Option<&str>) -> RowKey {
    RowKey {
        model: model.unwrap_or(GLOBAL).to_string(),
        quant: quant.unwrap_or(ANY_QUANT).to_string(),
    }
}

fn quant_rank(q: &str) -> usize {
    if q == ANY_QUANT {
        0
    } else {
        QUANT_ORDER
            .iter()
            .position(|x| *x == q)
            .map_or(QUANT_ORDER.len() + 1, |p| p + 1)
    }
}

/// `config.<key>[].name`, the order the configuration lists them in.
fn config_names(report: &Report, key: &str) -> Vec<String> {
    report.config[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn config_strings(report: &Report, key: &str) -> Vec<String> {
    report.config[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
