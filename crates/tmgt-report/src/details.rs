//! The parts of a result's `details` the reporters show, read once into types rather than by
//! string key at each use. Checks write `details` as JSON; the token checks' writer is held to
//! these types by a test in checks-inference (`details_read_back`).

use serde::Deserialize;
use serde_json::Value;

/// What a token check compared: the oracle's tokens and one runtime's, where they part.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TokenDetails {
    pub oracle: Option<Vec<u64>>,
    /// The runtime's name as messages give it (`apr`, `llama.cpp`).
    pub runtime: Option<String>,
    /// The key its tokens are under (`apr`, `llamacpp`).
    pub tokens_key: Option<String>,
    pub comparison: Option<Comparison>,
    pub window: Option<Window>,
    pub classification: Option<Classification>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Comparison {
    pub first_divergence: Option<u64>,
}

/// The steps around the first divergence.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Window {
    pub start: u64,
    pub expected: Vec<u64>,
    pub actual: Vec<u64>,
    /// The oracle's top-1 minus top-2 logit at each step, where it records one.
    pub margins: Vec<Option<f64>>,
}

/// Why the sequences part: `tie-flip`, `divergence` or `unclassified`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Classification {
    pub kind: String,
}

impl TokenDetails {
    /// The token details of a result; every part absent for a result of another kind.
    pub fn of(details: &Value) -> TokenDetails {
        TokenDetails::deserialize(details).unwrap_or_default()
    }

    /// The runtime's tokens, by the key the details name.
    pub fn runtime_tokens(&self, details: &Value) -> Option<Vec<u64>> {
        let key = self.tokens_key.as_deref()?;
        details[key].as_array()?.iter().map(Value::as_u64).collect()
    }

    /// The text the runtime decoded, under `<tokens_key>_text`.
    pub fn runtime_text<'a>(&self, details: &'a Value) -> Option<&'a str> {
        let key = self.tokens_key.as_deref()?;
        details.get(format!("{key}_text"))?.as_str()
    }

    pub fn first_divergence(&self) -> Option<u64> {
        self.comparison.as_ref()?.first_divergence
    }

    pub fn is_tie_flip(&self) -> bool {
        self.classification
            .as_ref()
            .is_some_and(|c| c.kind == "tie-flip")
    }
}

/// Where apr's forward pass departs from HF's, stage by stage (the localize suite).
#[derive(Debug, Clone, Deserialize)]
pub struct Localization {
    pub tolerance: f64,
    /// The first stage beyond the tolerance, if any.
    #[serde(default)]
    pub first_departure: Option<String>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Stage {
    pub key: String,
    /// The error that decided the stage's verdict; absent (null) when it was not finite.
    pub worst: Option<f64>,
    pub departs: bool,
}

impl Localization {
    /// The localization a result carries, if it does.
    pub fn of(details: &Value) -> Option<Localization> {
        Localization::deserialize(details.get("localization")?).ok()
    }
}

/// The artifact a `prepare` result is about (`model/kind`).
pub fn artifact(details: &Value) -> Option<&str> {
    details.get("artifact")?.as_str()
}
