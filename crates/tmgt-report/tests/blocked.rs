//! One cause, one line: the results an unavailable artifact blocked are told once, under the
//! `prepare` failure that caused them, in every reporter; each still counts as an error.

mod common;

use common::{BLOCKED_ARTIFACT, blocked_report, browser};
use tmgt_report::group::is_blocked;
use tmgt_report::{Report, html, junit, markdown, ticket};

const UPSTREAM: &str = "PRE001/import-fails/m/int8";
const UNRELATED: &str = "INS001/inspect-metadata-wrong/m/f32";

fn blocked_ids(r: &Report) -> Vec<String> {
    r.results
        .iter()
        .filter(|x| is_blocked(x))
        .map(|x| x.id.clone())
        .collect()
}

/// `text` less its `<details>` blocks.
fn outside_details(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("<details") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find("</details>").expect("a closed <details>");
        rest = &rest[at + end + "</details>".len()..];
    }
    out.push_str(rest);
    out
}

/// The report without its `prepare` result for the blocked artifact (a filtered run).
fn without_upstream() -> Report {
    let mut r = blocked_report();
    r.results.retain(|x| x.id != UPSTREAM);
    r
}

#[test]
fn every_blocked_result_still_counts_as_an_error() {
    let r = blocked_report();
    assert_eq!(blocked_ids(&r).len(), 5);
    let groups = r.blocked();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].artifact, BLOCKED_ARTIFACT);
    assert_eq!(groups[0].upstream.map(|u| u.id.as_str()), Some(UPSTREAM));
    assert_eq!(groups[0].results.len(), 5);
    let s = &r.summary;
    assert_eq!((s.pass, s.fail, s.error), (1, 1, 6));
    assert!(r.failed());
    let md = markdown::render(&r);
    assert!(md.contains("| 8 | 1 | 1 | 6 | 0 | 0 | 0 | 0 | 1 |"), "{md}");
    assert!(md.contains("### Failures and errors (7)"), "{md}");
}

#[test]
fn summary_md_tells_the_failed_import_once_and_folds_what_it_blocked() {
    let r = blocked_report();
    let md = markdown::render(&r);
    assert_eq!(
        browser::count(&md, "5 results could not run"),
        1,
        "one group line: {md}"
    );
    assert!(md.contains(
        "❌ `PRE001/import-fails/m/int8` failed: 5 results could not run (artifact `m/apr-int8` unavailable)\n\n\
         > `apr import` exited 1 (call #1): error: unsupported tensor dtype BF16\n"
    ));
    assert!(md.contains("<details><summary>5 blocked results</summary>"));
    let outside = outside_details(&md);
    for id in blocked_ids(&r) {
        assert!(md.contains(&format!("- `{id}`")), "{id} is in the group");
        assert!(!outside.contains(&id), "{id} listed outside the group");
    }
    assert_eq!(
        browser::count(&outside, UPSTREAM),
        1,
        "the upstream is the group's line, not a row of its own"
    );
    assert!(outside.contains(&format!(
        "| 💥 error: timeout | `{UNRELATED}` | apr inspect timed out after 30 s |"
    )));
    insta::assert_snapshot!(md);
}

#[test]
fn summary_md_without_the_prepare_result_names_the_artifact_and_its_reason() {
    let md = markdown::render(&without_upstream());
    assert!(
        md.contains(
            "💥 artifact `m/apr-int8` unavailable: 5 results could not run\n\n\
             > `apr import ...` failed (exit 1, call #1): error: unsupported tensor dtype BF16\n"
        ),
        "{md}"
    );
    assert!(!md.contains("rerun: "), "no upstream to rerun");
    assert!(outside_details(&md).contains(UNRELATED));
}

#[test]
fn junit_keeps_every_blocked_testcase_with_a_short_message_naming_the_cause() {
    let r = blocked_report();
    let xml = junit::render(&r).unwrap();
    assert!(xml.contains("tests=\"8\""), "{xml}");
    assert!(xml.contains("errors=\"6\" timestamp="), "{xml}");
    let message = format!(
        "<error message=\"blocked: artifact {BLOCKED_ARTIFACT} unavailable (see {UPSTREAM})\" type=\"artifact-unavailable\">"
    );
    assert_eq!(browser::count(&xml, &message), 5, "{xml}");
    for id in blocked_ids(&r) {
        assert!(xml.contains(&format!("<testcase name=\"{id}\"")), "{id}");
    }
    assert!(xml.contains(
        "error: unsupported tensor dtype BF16\n\n5 results could not run because of this\n\nrerun: "
    ));
    assert!(xml.contains("<error message=\"apr inspect timed out after 30 s\" type=\"timeout\">"));

    let alone = junit::render(&without_upstream()).unwrap();
    assert_eq!(
        browser::count(
            &alone,
            "<error message=\"blocked: artifact m/apr-int8 unavailable\" type="
        ),
        5
    );
}

#[test]
fn html_folds_the_blocked_results_into_one_group_after_the_failed_import() {
    let r = blocked_report();
    let page = html::render(&r);
    assert_eq!(browser::count(&page, "<div class=\"blocked\""), 1);
    assert_eq!(
        browser::count(&page, "<div class=\"result "),
        r.results.len(),
        "every record is still there"
    );
    let upstream = page
        .find(&format!("<span class=\"id\">{UPSTREAM}</span>"))
        .unwrap();
    let group = page.find("<div class=\"blocked\"").unwrap();
    // The last record's end, then the group's.
    let group_end = group
        + page[group..]
            .find("</div></details></div>\n</div></details></div>\n")
            .unwrap();
    assert!(upstream < group, "the group follows its upstream");
    assert!(page[group..].contains(
        "<summary><span class=\"badge v-error\">blocked</span><code>PRE001/import-fails/m/int8</code> \
         failed: 5 results could not run (artifact <code>m/apr-int8</code> unavailable)</summary>"
    ));
    for id in blocked_ids(&r) {
        let at = page
            .find(&format!("<span class=\"id\">{id}</span>"))
            .unwrap();
        assert!(group < at && at < group_end, "{id} is inside the group");
    }
    let unrelated = page
        .find(&format!("<span class=\"id\">{UNRELATED}</span>"))
        .unwrap();
    assert!(
        unrelated > group_end,
        "the unrelated error is outside the group"
    );

    // Without the upstream, the group stands where its first blocked result would.
    let alone = html::render(&without_upstream());
    assert_eq!(browser::count(&alone, "<div class=\"blocked\""), 1);
    assert!(alone.contains("<code>m/apr-int8</code> unavailable: 5 results could not run"));
}

#[test]
fn the_folded_page_and_junit_pass_chromium_and_the_junit_schema() {
    let dir = tempfile::tempdir().unwrap();
    let report = blocked_report();
    tmgt_report::write_reports(&report, dir.path()).unwrap();
    browser::validate_junit(&dir.path().join("junit.xml"));
    let rendered = browser::render(&dir.path().join("report.html"));
    assert!(
        rendered.console.is_empty(),
        "console: {:?}",
        rendered.console
    );
    assert!(browser::ready_marker(&rendered.dom).is_some());
    assert_eq!(browser::count(&rendered.dom, "<div class=\"blocked\""), 1);
}

#[test]
fn ticket_counts_the_blocked_results_in_the_failed_imports_section() {
    let r = blocked_report();
    let findings = ticket::findings(&r);
    let sizes: Vec<(String, usize, usize)> = findings
        .iter()
        .map(|f| {
            (
                f.fingerprint.to_string(),
                f.results.len(),
                f.blocks.iter().map(|b| b.results.len()).sum(),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [
            ("PRE001 m int8 fail".to_string(), 1, 5),
            ("INS001 m f32 timeout".to_string(), 1, 0),
        ]
    );
    let md = ticket::render(&r);
    assert!(md.contains(
        "2 distinct findings from 7 failing results (1 fail, 6 error, 5 results could not run because of a finding below)"
    ));
    assert!(md.contains(
        "- 5 results could not run because of this (artifact `m/apr-int8` unavailable), not repeated as findings"
    ));
    for id in blocked_ids(&r) {
        assert!(!md.contains(&id), "{id} in the ticket");
    }

    // Without the upstream, the blocked results are one finding, headed by the artifact.
    let alone = without_upstream();
    let findings = ticket::findings(&alone);
    let sizes: Vec<(String, usize)> = findings
        .iter()
        .map(|f| (f.fingerprint.to_string(), f.results.len()))
        .collect();
    assert_eq!(
        sizes,
        [
            ("TOK001 m int8 artifact-unavailable".to_string(), 5),
            ("INS001 m f32 timeout".to_string(), 1),
        ]
    );
    assert!(findings[0].results.iter().all(|x| is_blocked(x)));
    let md = ticket::render(&alone);
    assert!(
        md.contains("## 1. artifact `m/apr-int8` unavailable: 5 results could not run\n"),
        "{md}"
    );
    assert!(
        md.contains("- seen in 5 results (prompts: code, greeting)\n"),
        "{md}"
    );
}
