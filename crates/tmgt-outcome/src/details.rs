use crate::{Localization, TokenJudgement};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The structured specifics beside a verdict, tagged by kind (`"kind": "tokens"`). The kinds
/// reporters draw are typed; a check's other facts are kept as it wrote them, for people.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Details {
    #[default]
    None,
    /// A runtime's tokens against the oracle's: token streams, the divergence window.
    Tokens(Box<TokenJudgement>),
    /// Per-stage errors of a traced forward pass: the localization chart.
    Localization(Box<Localization>),
    /// The artifact a `prepare` result is about: what blocked results are grouped under.
    Artifact(ArtifactRef),
    /// A check's own facts (per-tensor numbers, cases, clauses), which no reporter reads by
    /// key.
    Facts(Map<String, Value>),
    /// A file's tensors held against the source: a ticket of a result that read the same file
    /// says whether the weights explain it.
    Weights(Box<WeightsJudgement>),
}

/// The `weights` suite's judgement of one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsJudgement {
    /// The file judged, as given to the check (absolute).
    pub file: String,
    /// Every expected tensor present, shaped and within its type's bound.
    pub faithful: bool,
    /// What departs, in one sentence.
    pub summary: String,
    /// Per-tensor specifics (departures with their kinds, missing, extra, storage types).
    #[serde(default)]
    pub tensors: Value,
}

/// An artifact, as `model/kind` (`tiny-llama/apr-int8`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub artifact: String,
}

impl Details {
    /// A check's own facts; `facts` is a JSON object (anything else is kept under `value`).
    pub fn facts(facts: Value) -> Details {
        match facts {
            Value::Object(map) => Details::Facts(map),
            Value::Null => Details::None,
            other => Details::Facts(Map::from_iter([("value".to_string(), other)])),
        }
    }

    pub fn artifact(artifact: impl Into<String>) -> Details {
        Details::Artifact(ArtifactRef {
            artifact: artifact.into(),
        })
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Details::None)
    }

    pub fn tokens(&self) -> Option<&TokenJudgement> {
        match self {
            Details::Tokens(t) => Some(t),
            _ => None,
        }
    }

    pub fn localization(&self) -> Option<&Localization> {
        match self {
            Details::Localization(l) => Some(l),
            _ => None,
        }
    }

    pub fn weights(&self) -> Option<&WeightsJudgement> {
        match self {
            Details::Weights(w) => Some(w),
            _ => None,
        }
    }

    pub fn artifact_name(&self) -> Option<&str> {
        match self {
            Details::Artifact(a) => Some(&a.artifact),
            _ => None,
        }
    }
}

/// The tagged kinds, read strictly.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum Tagged {
    None,
    Tokens(Box<TokenJudgement>),
    Localization(Box<Localization>),
    Artifact(ArtifactRef),
    Facts(Map<String, Value>),
    Weights(Box<WeightsJudgement>),
}

/// A report of an older schema wrote details without a `kind`: they are read as facts, so
/// such a report still loads, merges and diffs (without its token tables or charts).
impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Details, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if value.get("kind").is_none() {
            return Ok(Details::facts(value));
        }
        Ok(
            match Tagged::deserialize(value).map_err(serde::de::Error::custom)? {
                Tagged::None => Details::None,
                Tagged::Tokens(t) => Details::Tokens(t),
                Tagged::Localization(l) => Details::Localization(l),
                Tagged::Artifact(a) => Details::Artifact(a),
                Tagged::Facts(f) => Details::Facts(f),
                Tagged::Weights(w) => Details::Weights(w),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_is_written_with_its_tag_and_read_back() {
        let mut tokens = TokenJudgement::new("apr", &[1, 2, 3], &[1, 2, 4]);
        tokens.text = Some("a b d".into());
        for details in [
            Details::Tokens(Box::new(tokens)),
            Details::artifact("tiny-llama/apr-int8"),
            Details::facts(json!({ "rank": 8, "tensors": ["a"] })),
            Details::Weights(Box::new(WeightsJudgement {
                file: "/m/x.gguf".into(),
                faithful: false,
                summary: "1 of 2 tensors depart: token_embd.weight is zeroed".into(),
                tensors: json!({ "departing": [] }),
            })),
        ] {
            let json = serde_json::to_value(&details).unwrap();
            assert!(json["kind"].is_string(), "{json}");
            assert_eq!(serde_json::from_value::<Details>(json).unwrap(), details);
        }
        let facts = serde_json::to_value(Details::facts(json!({ "rank": 8 }))).unwrap();
        assert_eq!(facts, json!({ "kind": "facts", "rank": 8 }));
    }

    #[test]
    fn untagged_details_of_an_older_report_are_facts() {
        let old = json!({ "tokens_key": "apr", "apr": [1] });
        let read: Details = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(read, Details::facts(old));
        assert!(read.tokens().is_none());
    }

    #[test]
    fn a_tagged_kind_with_a_wrong_field_is_an_error_naming_it() {
        let bad = json!({ "kind": "tokens", "runtime": "apr", "oracle": "x", "tokens": [] });
        let err = serde_json::from_value::<Details>(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid type"), "{err}");
    }
}
