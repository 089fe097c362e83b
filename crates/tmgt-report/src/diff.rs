//! `tmgt diff OLD NEW`: what changed between two runs, result by result (matched by id).

use crate::schema::{Report, ReportVerdict, ResultRecord};
use crate::text::{clip, first_line};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One result's change between the two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub id: String,
    /// Absent: the result is new.
    pub old: Option<ReportVerdict>,
    /// Absent: the result is gone.
    pub new: Option<ReportVerdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_message: Option<String>,
    /// The filter that reruns it (from the newer report when it has it).
    pub rerun_filter: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    /// Results that now fail the run (`fail` or `error`) and did not before, including new
    /// results that fail.
    pub newly_failing: Vec<Change>,
    /// Results that failed (`fail`, `error` or `xfail`) and now pass (`pass` or `xpass`).
    pub newly_passing: Vec<Change>,
    /// Other verdict changes: `fail` → `error`, `fail` → `xfail`, `pass` → `skip`, ...
    pub verdict_changed: Vec<Change>,
    /// Same verdict, different message.
    pub message_changed: Vec<Change>,
    /// Results only the newer report has (check instances added).
    pub added: Vec<Change>,
    /// Results only the older report has.
    pub removed: Vec<Change>,
}

impl Diff {
    pub fn between(old: &Report, new: &Report) -> Diff {
        let old_by_id: BTreeMap<&str, &ResultRecord> =
            old.results.iter().map(|r| (r.id.as_str(), r)).collect();
        let new_by_id: BTreeMap<&str, &ResultRecord> =
            new.results.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut d = Diff::default();
        for n in &new.results {
            let Some(o) = old_by_id.get(n.id.as_str()) else {
                let change = change(None, Some(n));
                if n.verdict.is_problem() {
                    d.newly_failing.push(change.clone());
                }
                d.added.push(change);
                continue;
            };
            let change = change(Some(o), Some(n));
            let was_failing = o.verdict.is_problem() || o.verdict == ReportVerdict::Xfail;
            let passes = matches!(n.verdict, ReportVerdict::Pass | ReportVerdict::Xpass);
            if !o.verdict.is_problem() && n.verdict.is_problem() {
                d.newly_failing.push(change);
            } else if was_failing && passes {
                d.newly_passing.push(change);
            } else if o.verdict != n.verdict {
                d.verdict_changed.push(change);
            } else if o.message != n.message {
                d.message_changed.push(change);
            }
        }
        for o in &old.results {
            if !new_by_id.contains_key(o.id.as_str()) {
                d.removed.push(change(Some(o), None));
            }
        }
        d
    }

    /// Anything newly fails: `tmgt diff` exits 1.
    pub fn regressed(&self) -> bool {
        !self.newly_failing.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.newly_failing.is_empty()
            && self.newly_passing.is_empty()
            && self.verdict_changed.is_empty()
            && self.message_changed.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
    }

    /// The text `tmgt diff` prints (Markdown).
    pub fn render(&self, old: &Report, new: &Report) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# tmgt diff\n\n- old: apr {} (commit {}), {} results, started {}\n- new: apr {} (commit {}), {} results, started {}\n",
            old.apr.version,
            clip(&old.apr.git_sha, 12),
            old.results.len(),
            old.started_at,
            new.apr.version,
            clip(&new.apr.git_sha, 12),
            new.results.len(),
            new.started_at,
        );
        let _ = writeln!(
            s,
            "{} newly failing, {} newly passing, {} verdict changed, {} message changed, {} added, {} removed\n",
            self.newly_failing.len(),
            self.newly_passing.len(),
            self.verdict_changed.len(),
            self.message_changed.len(),
            self.added.len(),
            self.removed.len()
        );
        if self.is_empty() {
            s.push_str("No result changed.\n");
            return s;
        }
        section(&mut s, "Newly failing", &self.newly_failing, true);
        section(&mut s, "Newly passing", &self.newly_passing, false);
        section(&mut s, "Verdict changed", &self.verdict_changed, false);
        section(&mut s, "Message changed", &self.message_changed, true);
        section(&mut s, "Added", &self.added, false);
        section(&mut s, "Removed", &self.removed, false);
        s
    }
}

fn change(old: Option<&ResultRecord>, new: Option<&ResultRecord>) -> Change {
    let any = new.or(old).map(|r| (r.id.clone(), r.rerun_filter.clone()));
    let (id, rerun_filter) = any.unwrap_or_default();
    Change {
        id,
        old: old.map(|r| r.verdict),
        new: new.map(|r| r.verdict),
        old_message: old.map(|r| r.message.clone()),
        new_message: new.map(|r| r.message.clone()),
        rerun_filter,
    }
}

fn verdict(v: Option<ReportVerdict>) -> &'static str {
    v.map_or("absent", ReportVerdict::as_str)
}

fn section(s: &mut String, title: &str, changes: &[Change], both_messages: bool) {
    if changes.is_empty() {
        return;
    }
    let _ = writeln!(s, "## {title} ({})\n", changes.len());
    for c in changes {
        let _ = writeln!(s, "- `{}`: {} → {}", c.id, verdict(c.old), verdict(c.new));
        let message = |m: &Option<String>| clip(first_line(m.as_deref().unwrap_or_default()), 200);
        if both_messages && c.old.is_some() && c.new.is_some() && c.old_message != c.new_message {
            let _ = writeln!(s, "  - was: {}", message(&c.old_message));
            let _ = writeln!(s, "  - now: {}", message(&c.new_message));
        } else if c.new.is_some() {
            let _ = writeln!(s, "  - {}", message(&c.new_message));
        } else {
            let _ = writeln!(s, "  - {}", message(&c.old_message));
        }
    }
    s.push('\n');
}
