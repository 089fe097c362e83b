use serde::Serialize;
use tmgt_outcome::{Details, RequestRecord};

/// The outcome of a check that ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// How much a check compared: `count` things of kind `unit` ("tokens", "tensors", "fields").
/// A pass with no evidence is not a pass; the runner turns it into an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub count: u64,
    pub unit: &'static str,
}

impl Evidence {
    pub fn new(count: impl TryInto<u64>, unit: &'static str) -> Evidence {
        Evidence {
            count: count.try_into().unwrap_or(u64::MAX),
            unit,
        }
    }

    pub const NONE: Evidence = Evidence {
        count: 0,
        unit: "items",
    };
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.count, self.unit)
    }
}

/// What a check concluded, with the evidence behind it and structured details for reports
/// (divergence windows, token streams, per-tensor numbers).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub status: Status,
    pub message: String,
    pub evidence: Evidence,
    #[serde(skip_serializing_if = "Details::is_none")]
    pub details: Details,
    /// Requests to servers the verdict rests on, beside the apr calls the runner records.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RequestRecord>,
}

impl Verdict {
    pub fn pass(evidence: Evidence, message: impl Into<String>) -> Verdict {
        Verdict::new(Status::Pass, evidence, message)
    }

    pub fn fail(evidence: Evidence, message: impl Into<String>) -> Verdict {
        Verdict::new(Status::Fail, evidence, message)
    }

    /// A check that does not apply here; the message says what is missing.
    pub fn skip(reason: impl Into<String>) -> Verdict {
        Verdict::new(Status::Skip, Evidence::NONE, reason)
    }

    /// Pass when `ok`, fail otherwise, with the same evidence and message.
    pub fn judge(ok: bool, evidence: Evidence, message: impl Into<String>) -> Verdict {
        let status = if ok { Status::Pass } else { Status::Fail };
        Verdict::new(status, evidence, message)
    }

    /// The server requests the verdict rests on.
    pub fn with_requests(mut self, requests: Vec<RequestRecord>) -> Verdict {
        self.requests = requests;
        self
    }

    pub fn with_details(mut self, details: Details) -> Verdict {
        self.details = details;
        self
    }

    /// The check's own facts (a JSON object), for people reading the report.
    pub fn with_facts(self, facts: serde_json::Value) -> Verdict {
        self.with_details(Details::facts(facts))
    }

    fn new(status: Status, evidence: Evidence, message: impl Into<String>) -> Verdict {
        Verdict {
            status,
            message: message.into(),
            evidence,
            details: Details::None,
            requests: Vec::new(),
        }
    }
}

/// The first `shown` items joined by `separator`, then how many more: a message names a few
/// and the details keep them all.
pub fn first_few<T: std::fmt::Display>(items: &[T], shown: usize, separator: &str) -> String {
    let mut s = items
        .iter()
        .take(shown)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator);
    if items.len() > shown {
        s.push_str(&format!(" and {} more", items.len() - shown));
    }
    s
}

#[cfg(test)]
mod first_few_tests {
    use super::first_few;

    #[test]
    fn names_the_first_and_counts_the_rest() {
        assert_eq!(first_few(&["a", "b"], 3, ", "), "a, b");
        assert_eq!(first_few(&["a", "b", "c", "d"], 2, "; "), "a; b and 2 more");
    }
}
