//! Pass criteria, read from `[thresholds]` in suites.toml: the tables the suite crates declare.

use crate::CheckError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[thresholds]`: one table per suite (or group of suites), each declared by the crate whose
/// checks read it ([`crate::declare_thresholds!`]), checked against its type and filled with its
/// defaults when the configuration loads. A check reads its table with [`Thresholds::get`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Thresholds {
    pub suites: BTreeMap<String, serde_json::Value>,
}

impl Thresholds {
    /// The table `T` was declared for, as `T`. The configuration loader has already filled in
    /// its defaults or refused the file.
    pub fn get<T: ThresholdTable>(&self) -> Result<T, CheckError> {
        let input = |reason: String| CheckError::Input {
            what: format!("[thresholds.{}]", T::TABLE),
            reason,
        };
        let table = self.suites.get(T::TABLE).ok_or_else(|| {
            input("not in the configuration (was the suite's crate linked when it loaded?)".into())
        })?;
        serde_json::from_value(table.clone()).map_err(|e| input(e.to_string()))
    }
}

/// A type a `[thresholds.<table>]` table reads as; implemented by [`crate::declare_thresholds!`].
pub trait ThresholdTable: DeserializeOwned {
    const TABLE: &'static str;
}

/// A suite's own `[thresholds.<suite>]` table, registered by [`crate::declare_thresholds!`].
#[derive(Debug, Clone, Copy)]
pub struct SuiteThresholds {
    pub suite: &'static str,
    /// Reads a table as the suite's type and writes it back with every default filled in;
    /// `Err` names the first key that is unknown or of the wrong type.
    pub normalize: fn(serde_json::Value) -> Result<serde_json::Value, TableError>,
}

inventory::collect!(SuiteThresholds);

impl SuiteThresholds {
    /// Every registered table.
    pub fn all() -> impl Iterator<Item = &'static SuiteThresholds> {
        inventory::iter::<SuiteThresholds>.into_iter()
    }
}

/// Why a suite's thresholds table does not read as its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("unknown key `{0}`")]
    UnknownKey(String),
    /// A key of the wrong type or a required key left out; `key` is where, when known.
    #[error("{message}")]
    Invalid {
        key: Option<String>,
        message: String,
    },
}

/// [`SuiteThresholds::normalize`] for a type: unknown keys are errors, absent ones defaults.
pub fn normalize_as<T: DeserializeOwned + Serialize>(
    table: serde_json::Value,
) -> Result<serde_json::Value, TableError> {
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let ignoring = serde_ignored::Deserializer::new(table, &mut note);
    let typed: T = serde_path_to_error::deserialize(ignoring).map_err(|e| {
        let key = e.path().to_string();
        TableError::Invalid {
            key: (key != ".").then_some(key),
            message: e.into_inner().to_string(),
        }
    })?;
    if let Some(key) = unknown.into_iter().next() {
        return Err(TableError::UnknownKey(key));
    }
    serde_json::to_value(typed).map_err(|e| TableError::Invalid {
        key: None,
        message: e.to_string(),
    })
}
