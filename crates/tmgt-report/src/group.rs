//! Results that could not run because an artifact's preparation failed, grouped under that
//! one cause.
//!
//! When apr refuses one import, most results of its quantization level error with
//! `artifact-unavailable`: listed one by one they bury the failure that caused them. The
//! reporters show each [`Blocked`] group once, next to the `prepare` result that reports the
//! failure (its upstream), while every result still counts as the error it is.

use crate::schema::{Report, ReportVerdict, ResultRecord};
use std::collections::BTreeSet;

/// The suite whose checks report an artifact's preparation, naming it in `details.artifact`.
const PREPARE_SUITE: &str = "prepare";

/// One unavailable artifact and the results it left unable to run.
#[derive(Debug, Clone)]
pub struct Blocked<'a> {
    /// The artifact, `model/kind` (`tiny-llama/apr-int8`).
    pub artifact: &'a str,
    /// The `prepare` result that reports the failure; absent when the run has none (a
    /// filtered run, or an artifact no check prepares, such as llama.cpp's own GGUF).
    pub upstream: Option<&'a ResultRecord>,
    /// The blocked results, in report order.
    pub results: Vec<&'a ResultRecord>,
}

/// The artifact a result waits for when it is folded into a [`Blocked`] group: an error
/// whose artifact was unavailable. A ledger verdict (`xfail`) keeps a result on its own.
pub fn blocker(r: &ResultRecord) -> Option<&str> {
    r.blocked_by
        .as_deref()
        .filter(|_| r.verdict == ReportVerdict::Error)
}

/// Whether a result is folded into a [`Blocked`] group rather than reported on its own.
pub fn is_blocked(r: &ResultRecord) -> bool {
    blocker(r).is_some()
}

/// The group a folded result belongs to.
pub fn group_of<'g, 'a>(groups: &'g [Blocked<'a>], r: &ResultRecord) -> Option<&'g Blocked<'a>> {
    let artifact = blocker(r)?;
    groups.iter().find(|g| g.artifact == artifact)
}

/// The group whose upstream `r` is: the results its failure left unable to run.
pub fn caused_by<'g, 'a>(groups: &'g [Blocked<'a>], r: &ResultRecord) -> Option<&'g Blocked<'a>> {
    groups
        .iter()
        .find(|g| g.upstream.is_some_and(|u| std::ptr::eq(u, r)))
}

/// What a blocker is, as every reporter says it: `artifact m/apr-int8 unavailable` for an
/// artifact whose preparation failed, `apr serve of f.gguf unavailable` for a server that
/// never came up; `code` marks the name up in the reporter's format.
pub fn unavailable(blocker: &str, code: impl Fn(&str) -> String) -> String {
    if blocker.starts_with(REFUSAL_PREFIX) {
        code(blocker)
    } else if blocker.starts_with(SERVER_PREFIX) {
        format!("{} unavailable", code(blocker))
    } else {
        format!("artifact {} unavailable", code(blocker))
    }
}

/// How a result blocked by a server names it (`blocked_by`).
pub const SERVER_PREFIX: &str = "apr serve of ";

/// How a result blocked by apr refusing a model file names it (`blocked_by`): `apr refuses
/// <folder>/<file>: <the first line of apr's failure>`, so every result that needed the file
/// and met the same failure is told once under it.
pub const REFUSAL_PREFIX: &str = "apr refuses ";

/// `173 results could not run`: the count every reporter gives a group.
pub fn could_not_run(n: usize) -> String {
    let results = if n == 1 { "result" } else { "results" };
    format!("{n} {results} could not run")
}

impl Blocked<'_> {
    /// The group's one line: `PRE001/… failed: 173 results could not run (artifact
    /// m/apr-int8 unavailable)`, or `artifact m/apr-int8 unavailable: 173 results could not
    /// run` without an upstream. `code` marks up ids in the reporter's format.
    pub fn headline(&self, code: impl Fn(&str) -> String) -> String {
        let n = could_not_run(self.results.len());
        match self.upstream {
            Some(u) => format!(
                "{} {}: {n} ({})",
                code(&u.id),
                if u.verdict == ReportVerdict::Error {
                    "errored"
                } else {
                    "failed"
                },
                unavailable(self.artifact, &code)
            ),
            None => format!("{}: {n}", unavailable(self.artifact, &code)),
        }
    }

    /// Why the artifact is unavailable: the upstream's message, else the reason the first
    /// blocked result gives (its message less the `artifact X unavailable: ` it starts with).
    pub fn reason(&self) -> &str {
        if let Some(u) = self.upstream {
            return &u.message;
        }
        let prefix = format!("{}: ", unavailable(self.artifact, str::to_string));
        self.results.first().map_or("", |r| {
            r.message.strip_prefix(&prefix).unwrap_or(&r.message)
        })
    }
}

impl Report {
    /// The results folded into groups, one group per unavailable artifact, in the order the
    /// artifacts first appear.
    pub fn blocked(&self) -> Vec<Blocked<'_>> {
        let mut groups: Vec<Blocked<'_>> = Vec::new();
        for (artifact, r) in self.results.iter().filter_map(|r| Some((blocker(r)?, r))) {
            match groups.iter_mut().find(|g| g.artifact == artifact) {
                Some(g) => g.results.push(r),
                None => groups.push(Blocked {
                    artifact,
                    upstream: self.upstream_of(artifact),
                    results: vec![r],
                }),
            }
        }
        groups
    }

    /// The first `prepare` result that reports `artifact` failing (`fail`, `error`, or a
    /// known failure the ledger made `xfail`).
    fn upstream_of(&self, artifact: &str) -> Option<&ResultRecord> {
        self.results.iter().find(|r| {
            r.suite == PREPARE_SUITE
                && matches!(
                    r.verdict,
                    ReportVerdict::Fail | ReportVerdict::Error | ReportVerdict::Xfail
                )
                && r.details.artifact_name() == Some(artifact)
        })
    }
}

/// The instances a report did not judge because their entries lack what they ask for, one
/// line per reason with its count, most first: "N instances: reason".
pub fn outside_entry(report: &Report) -> Vec<String> {
    // A reason that differs from another only in the model it names (the rungs of a ladder
    // asking for what no ready-made file has) is told once, with its models counted.
    let mut by_reason: std::collections::BTreeMap<String, (usize, BTreeSet<&str>, &str)> =
        std::collections::BTreeMap::new();
    for o in &report.outside_entry {
        let model =
            o.id.split('/')
                .nth(2)
                .filter(|m| !m.is_empty() && o.reason.contains(m));
        let key = model.map_or_else(|| o.reason.clone(), |m| o.reason.replace(m, "<model>"));
        let group = by_reason
            .entry(key)
            .or_insert((0, BTreeSet::new(), o.reason.as_str()));
        group.0 += 1;
        group.1.extend(model);
    }
    let mut lines: Vec<(usize, String)> = by_reason
        .into_iter()
        .map(|(key, (n, models, example))| {
            let noun = if n == 1 { "instance" } else { "instances" };
            let line = if models.len() > 1 {
                format!("{n} {noun} of {} models: {key}", models.len())
            } else {
                format!("{n} {noun}: {example}")
            };
            (n, line)
        })
        .collect();
    lines.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    lines.into_iter().map(|(_, line)| line).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Summary;
    use serde_json::json;

    fn record(id: &str, suite: &str, verdict: ReportVerdict) -> ResultRecord {
        serde_json::from_value(json!({
            "id": id, "code": "X", "check": "x", "suite": suite, "scope": "instance",
            "verdict": verdict, "message": format!("{id} message"),
            "evidence": { "count": 0, "unit": "tokens" }, "duration_ms": 0,
            "invocations": [], "rerun_filter": "check=x"
        }))
        .unwrap()
    }

    fn upstream(id: &str, artifact: &str, verdict: ReportVerdict) -> ResultRecord {
        let mut r = record(id, PREPARE_SUITE, verdict);
        r.details = tmgt_outcome::Details::artifact(artifact);
        r
    }

    fn blocked(id: &str, artifact: &str) -> ResultRecord {
        let mut r = record(id, "token", ReportVerdict::Error);
        r.error_class = Some(tmgt_outcome::ErrorClass::ArtifactUnavailable);
        r.blocked_by = Some(artifact.into());
        r.message = format!("artifact {artifact} unavailable: apr import exited 1");
        r
    }

    fn report(results: Vec<ResultRecord>) -> Report {
        serde_json::from_value(json!({
            "schema": crate::SCHEMA,
            "tool": { "name": "tmgt", "version": "0" },
            "apr": { "binary": "apr", "binary_sha256": "", "version": "0", "git_sha": "",
                     "pinned_version": "0", "cuda_feature": false, "cuda_runtime_available": false },
            "config": null, "started_at": "", "finished_at": "", "interrupted": false,
            "summary": Summary::default(), "results": results, "invocations": []
        }))
        .unwrap()
    }

    fn ids(rs: &[&ResultRecord]) -> Vec<String> {
        rs.iter().map(|r| r.id.clone()).collect()
    }

    #[test]
    fn a_reason_that_differs_only_in_its_model_is_told_once_with_the_models_counted() {
        let mut r = report(vec![]);
        let outside = |id: &str, reason: &str| crate::schema::OutsideEntry {
            id: id.into(),
            reason: reason.into(),
        };
        r.outside_entry = vec![
            outside(
                "SRV003/x/m@q8_0/f32/code",
                "m@q8_0 is checked as given; tmgt makes no apr-f32 for it",
            ),
            outside(
                "SRV003/x/m@q8_0/f32/greeting",
                "m@q8_0 is checked as given; tmgt makes no apr-f32 for it",
            ),
            outside(
                "SRV003/x/m@q4_0/f32/code",
                "m@q4_0 is checked as given; tmgt makes no apr-f32 for it",
            ),
            outside(
                "TOK003/x/given/int8/code",
                "given lists no int8 level in its entry",
            ),
        ];
        assert_eq!(
            outside_entry(&r),
            [
                "3 instances of 2 models: <model> is checked as given; tmgt makes no apr-f32 for it",
                "1 instance: given lists no int8 level in its entry",
            ]
        );
    }

    #[test]
    fn groups_blocked_errors_by_artifact_in_first_appearance_order() {
        let r = report(vec![
            blocked("b1", "m/gguf-f32"),
            upstream("up", "m/apr-int8", ReportVerdict::Fail),
            blocked("a1", "m/apr-int8"),
            blocked("b2", "m/gguf-f32"),
            blocked("a2", "m/apr-int8"),
        ]);
        let groups = r.blocked();
        let shape: Vec<(&str, Option<&str>, Vec<String>)> = groups
            .iter()
            .map(|g| {
                (
                    g.artifact,
                    g.upstream.map(|u| u.id.as_str()),
                    ids(&g.results),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("m/gguf-f32", None, ids(&[&r.results[0], &r.results[3]])),
                (
                    "m/apr-int8",
                    Some("up"),
                    ids(&[&r.results[2], &r.results[4]])
                ),
            ]
        );
        assert!(std::ptr::eq(
            group_of(&groups, &r.results[3]).unwrap(),
            &groups[0]
        ));
        assert!(std::ptr::eq(
            caused_by(&groups, &r.results[1]).unwrap(),
            &groups[1]
        ));
        assert!(caused_by(&groups, &r.results[2]).is_none());
    }

    #[test]
    fn only_errors_fold_and_only_failing_prepare_results_are_upstream() {
        let mut known = blocked("known", "m/apr-int8");
        known.verdict = ReportVerdict::Xfail;
        let r = report(vec![
            upstream("passed", "m/apr-int8", ReportVerdict::Pass),
            known,
            blocked("a1", "m/apr-int8"),
        ]);
        assert!(
            !is_blocked(&r.results[1]),
            "a ledger verdict stays on its own"
        );
        let groups = r.blocked();
        assert_eq!(groups.len(), 1);
        assert!(groups[0].upstream.is_none(), "a pass reports no failure");
        assert_eq!(ids(&groups[0].results), ["a1"]);
    }

    #[test]
    fn headline_and_reason_name_the_cause() {
        let r = report(vec![
            upstream(
                "PRE001/import-fails/m/int8",
                "m/apr-int8",
                ReportVerdict::Fail,
            ),
            blocked("a1", "m/apr-int8"),
            blocked("a2", "m/apr-int8"),
            blocked("c1", "m/native-q4_0"),
        ]);
        let groups = r.blocked();
        assert_eq!(
            groups[0].headline(str::to_string),
            "PRE001/import-fails/m/int8 failed: 2 results could not run (artifact m/apr-int8 unavailable)"
        );
        assert_eq!(groups[0].reason(), "PRE001/import-fails/m/int8 message");
        assert_eq!(
            groups[1].headline(|s| format!("`{s}`")),
            "artifact `m/native-q4_0` unavailable: 1 result could not run"
        );
        assert_eq!(groups[1].reason(), "apr import exited 1");
    }

    #[test]
    fn a_server_that_never_came_up_is_one_cause_named_as_a_server() {
        let mut first = record("s1", "serve", ReportVerdict::Error);
        first.blocked_by = Some(format!("{SERVER_PREFIX}m/f32.gguf"));
        first.message = "apr serve of /x/m/f32.gguf exited 8 before it was ready".into();
        let mut second = first.clone();
        second.id = "s2".into();
        let r = report(vec![first, second]);
        let groups = r.blocked();
        assert_eq!(groups.len(), 1);
        assert_eq!(
            groups[0].headline(str::to_string),
            "apr serve of m/f32.gguf unavailable: 2 results could not run"
        );
        assert_eq!(
            groups[0].reason(),
            "apr serve of /x/m/f32.gguf exited 8 before it was ready"
        );
    }
}
