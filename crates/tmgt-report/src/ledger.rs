//! The known-issues ledger (`known-issues.toml`): failures already filed upstream.
//!
//! ```toml
//! [[issue]]
//! select = "check=gguf-prepends-bos model=tiny-qwen2"     # `tmgt run --filter` syntax
//! link = "https://github.com/paiml/aprender/issues/NNN"  # or "unfiled"
//! reason = "the GGUF path prepends BOS"
//! verdict = "fail"                                        # or "error"; default "fail"
//! ```
//!
//! A result an entry selects whose verdict is the one the entry expects becomes `xfail` and
//! no longer fails the run; one that passes becomes `xpass` (fixed upstream?); any other
//! verdict stays as it is, so a known failure that turns into a harness error is still seen.
//! Where several entries select a result, the first that expects its verdict takes it (an
//! entry for a model's refusals and one for a check's failures may both select it), else the
//! first in file order. An entry that selects no result of a complete run is stale.
//! `link = "unfiled"` marks a failure known but not reported upstream yet: `ticket.md` keeps
//! a section for it.

use crate::schema::{
    KnownIssueRef, KnownIssueStatus, Report, ReportVerdict, ResultRecord, Summary,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use tmgt_select::Selector;

/// The `link` of a known failure not reported upstream yet.
pub const UNFILED: &str = "unfiled";

/// The ledger: its entries in file order (the first entry that selects a result and expects
/// its verdict wins, else the first that selects it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    pub entries: Vec<LedgerEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    pub selector: Selector,
    pub link: String,
    pub reason: String,
    /// `fail` or `error`.
    pub expected: ReportVerdict,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLedger {
    #[serde(default)]
    issue: Vec<RawEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    select: String,
    link: String,
    reason: String,
    #[serde(default)]
    verdict: Option<String>,
}

/// Why a ledger cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {problems}", path.display())]
    In { path: PathBuf, problems: Problems },
    #[error(transparent)]
    Invalid(#[from] Problems),
}

/// What is wrong with a ledger's text: its TOML, or each entry's problem, one a line.
#[derive(Debug, thiserror::Error)]
pub enum Problems {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("{}", .0.join("\n"))]
    Entries(Vec<String>),
}

impl Ledger {
    /// Reads the ledger at `path`; a missing file is an empty ledger.
    pub fn load(path: &Path) -> Result<Ledger, LedgerError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ledger::parse_text(&text).map_err(|problems| LedgerError::In {
                path: path.to_path_buf(),
                problems,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ledger::default()),
            Err(source) => Err(LedgerError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses a ledger; every entry's problem is reported, not only the first.
    pub fn parse(text: &str) -> Result<Ledger, LedgerError> {
        Ok(Ledger::parse_text(text)?)
    }

    fn parse_text(text: &str) -> Result<Ledger, Problems> {
        let raw: RawLedger = toml::from_str(text)?;
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for (i, e) in raw.issue.into_iter().enumerate() {
            let n = i + 1;
            let selector = match e.select.parse::<Selector>() {
                Ok(s) => Some(s),
                Err(why) => {
                    problems.push(format!("issue #{n}: `select`: {why}"));
                    None
                }
            };
            let expected = match e.verdict.as_deref() {
                None | Some("fail") => Some(ReportVerdict::Fail),
                Some("error") => Some(ReportVerdict::Error),
                Some(other) => {
                    problems.push(format!(
                        "issue #{n}: `verdict = \"{other}\"`: use \"fail\" or \"error\""
                    ));
                    None
                }
            };
            let link = e.link.trim();
            if link.is_empty() {
                problems.push(format!(
                    "issue #{n}: `link` is empty: name the upstream issue"
                ));
            } else if link != UNFILED
                && !link.starts_with("https://")
                && !link.starts_with("http://")
            {
                problems.push(format!(
                    "issue #{n}: `link = \"{link}\"`: the upstream issue's URL, or \"{UNFILED}\""
                ));
            }
            if e.reason.trim().is_empty() {
                problems.push(format!("issue #{n}: `reason` is empty"));
            }
            if let (Some(selector), Some(expected)) = (selector, expected) {
                entries.push(LedgerEntry {
                    selector,
                    link: e.link,
                    reason: e.reason,
                    expected,
                });
            }
        }
        if problems.is_empty() {
            Ok(Ledger { entries })
        } else {
            Err(Problems::Entries(problems))
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry that selects `r` (the first that expects its verdict, else the first in file
    /// order) and the verdict it gives: `xfail` for the failure it expects, `xpass` for a
    /// pass, the result's own verdict otherwise. The streamed progress lines and the finished
    /// report both ask here, so a line shows the verdict the summary will count.
    pub fn judge(&self, r: &ResultRecord) -> Option<(usize, ReportVerdict)> {
        let query = r.query();
        let selecting = || {
            self.entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.selector.matches(&query))
        };
        let i = selecting()
            .find(|(_, e)| e.expected == r.verdict)
            .or_else(|| selecting().next())
            .map(|(i, _)| i)?;
        let verdict = match r.verdict {
            v if v == self.entries[i].expected => ReportVerdict::Xfail,
            ReportVerdict::Pass => ReportVerdict::Xpass,
            v => v,
        };
        Some((i, verdict))
    }
}

impl LedgerEntry {
    fn reference(&self) -> KnownIssueRef {
        KnownIssueRef {
            select: self.selector.to_string(),
            link: self.link.clone(),
            reason: self.reason.clone(),
            expected: self.expected,
        }
    }
}

impl Report {
    /// Applies the ledger: turns expected failures into `xfail` and passes of known failures
    /// into `xpass`, records what each entry matched, and recounts the summary. `complete` is
    /// false for a filtered or interrupted run, where an unmatched entry is not called stale.
    pub fn apply_ledger(&mut self, ledger: &Ledger, complete: bool) {
        let mut statuses: Vec<KnownIssueStatus> = ledger
            .entries
            .iter()
            .map(|e| KnownIssueStatus {
                entry: e.reference(),
                matched: 0,
                xfail: 0,
                xpass: 0,
                stale: false,
            })
            .collect();
        for r in &mut self.results {
            let Some((i, verdict)) = ledger.judge(r) else {
                continue;
            };
            let status = &mut statuses[i];
            status.matched += 1;
            match verdict {
                ReportVerdict::Xfail => status.xfail += 1,
                ReportVerdict::Xpass => status.xpass += 1,
                _ => continue,
            }
            r.verdict = verdict;
            r.known_issue = Some(ledger.entries[i].reference());
        }
        let mut models: Vec<&str> = self
            .results
            .iter()
            .filter_map(|r| r.model.as_deref())
            .collect();
        models.sort_unstable();
        models.dedup();
        for (s, entry) in statuses.iter_mut().zip(&ledger.entries) {
            s.stale = complete && s.matched == 0 && entry.selector.in_scope(&models);
        }
        let summary = Summary::of(
            &self.results,
            self.results.len() + self.summary.not_run,
            self.summary.apr_calls,
        );
        self.summary = Summary {
            stale_known_issues: statuses.iter().filter(|s| s.stale).count(),
            ..summary
        };
        self.known_issues = statuses;
    }

    /// Takes the ledger's verdicts back: every `xfail` returns to the verdict its entry
    /// expected, every `xpass` to `pass`. `tmgt merge` applies the ledger once to the whole
    /// matrix after taking each shard's application back.
    pub fn unapply_ledger(&mut self) {
        for r in &mut self.results {
            if let Some(k) = r.known_issue.take() {
                r.verdict = match r.verdict {
                    ReportVerdict::Xfail => k.expected,
                    ReportVerdict::Xpass => ReportVerdict::Pass,
                    v => v,
                };
            }
        }
        self.known_issues.clear();
    }

    /// A result fails the run: a check failed or could not reach a verdict (not `xfail`).
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| r.verdict.is_problem())
    }

    /// What the ledger asks a person to do, one paragraph per point, for stderr and the
    /// Markdown reports: known failures that now pass, stale entries. Empty when none.
    pub fn ledger_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for r in self
            .results
            .iter()
            .filter(|r| r.verdict == ReportVerdict::Xpass)
        {
            if let Some(k) = &r.known_issue {
                let what = if k.link == UNFILED {
                    "Remove".to_string()
                } else {
                    format!("Close {} and remove", k.link)
                };
                notes.push(format!(
                    "XPASS {}: known to {} but passed. Fixed upstream? {what} the ledger entry \
                     `{}`.",
                    r.id, k.expected, k.select
                ));
            }
        }
        for s in self.known_issues.iter().filter(|s| s.stale) {
            notes.push(format!(
                "STALE known issue `{}` ({}) matched no result of this run: remove or fix the entry.",
                s.entry.select, s.entry.link
            ));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_reports_every_problem() {
        let ledger = Ledger::parse(
            r#"
            [[issue]]
            select = "check=PRM002 model=tiny-qwen2|tiny-llama"
            link = "https://example.org/1"
            reason = "BOS"
            [[issue]]
            select = "suite=runtime"
            link = "https://example.org/2"
            reason = "crash"
            verdict = "error"
            "#,
        )
        .unwrap();
        assert_eq!(ledger.entries.len(), 2);
        assert_eq!(
            ledger.entries[0].selector.to_string(),
            "check=PRM002 model=tiny-qwen2|tiny-llama"
        );
        assert_eq!(ledger.entries[1].expected, ReportVerdict::Error);

        let err = Ledger::parse(
            r#"
            [[issue]]
            select = "colour=red"
            link = ""
            reason = "x"
            verdict = "maybe"
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a selector key"), "{err}");
        assert!(err.contains("`link` is empty"), "{err}");
        assert!(err.contains("use \"fail\" or \"error\""), "{err}");
        assert!(Ledger::parse("[[issue]]\nselect = \"x\"\n").is_err());
        let not_a_url = Ledger::parse("[[issue]]\nselect='x'\nlink='#12'\nreason='r'")
            .unwrap_err()
            .to_string();
        assert!(
            not_a_url.contains("the upstream issue's URL, or \"unfiled\""),
            "{not_a_url}"
        );
        assert!(Ledger::parse("[[issue]]\nselect='x'\nlink='unfiled'\nreason='r'").is_ok());
        assert!(Ledger::parse("[[issue]]\nselect='x'\nlink='l'\nreason='r'\nextra=1").is_err());
    }

    #[test]
    fn a_missing_file_is_an_empty_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::load(&dir.path().join("known-issues.toml")).unwrap();
        assert!(ledger.is_empty());
    }
}
