//! The reports as their readers' tools see them: `junit.xml` against the JUnit schema
//! (xmllint), `report.html` in headless Chromium.

mod common;

use common::browser;
use tmgt_report::matrix::Matrix;

#[test]
fn junit_validates_against_the_junit_schema() {
    let dir = tempfile::tempdir().unwrap();
    let files = tmgt_report::write_reports(&common::report(), dir.path()).unwrap();
    assert_eq!(files.len(), tmgt_report::REPORT_FILES.len());
    browser::validate_junit(&dir.path().join("junit.xml"));

    // And the schema is not a rubber stamp.
    let bad = dir.path().join("bad.xml");
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    std::fs::write(&bad, xml.replacen("<failure ", "<failure bogus=\"1\" ", 1)).unwrap();
    let result = std::panic::catch_unwind(|| browser::validate_junit(&bad));
    assert!(result.is_err(), "an unknown attribute validated");
}

#[test]
fn html_loads_in_chromium_without_console_errors_and_shows_every_cell() {
    let dir = tempfile::tempdir().unwrap();
    let report = common::report();
    tmgt_report::write_reports(&report, dir.path()).unwrap();
    let page = dir.path().join("report.html");
    let rendered = browser::render(&page);
    assert!(
        rendered.console.is_empty(),
        "console: {:?}",
        rendered.console
    );
    let cells = Matrix::of(&report).cells.len();
    assert_eq!(cells, 9);
    assert_eq!(
        browser::ready_marker(&rendered.dom),
        Some(cells),
        "the page's script did not run to the end"
    );
    assert_eq!(browser::count(&rendered.dom, "<td class=\"cell "), cells);
    assert_eq!(
        browser::count(&rendered.dom, "<div class=\"result "),
        report.results.len()
    );
    // Token streams side by side, the first divergence and the oracle margins marked.
    assert!(rendered.dom.contains("<td class=\"first\">16</td>"));
    assert!(rendered.dom.contains("<td class=\"first\">95</td>"));
    assert!(rendered.dom.contains(
        "first divergence at step 5 (divergence): oracle 16, apr 95; oracle margin 2.100 logits"
    ));
    let png = dir.path().join("report.png");
    browser::screenshot(&page, &png, 1400, 1100);
    if let Some(keep) = std::env::var_os("TMGT_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}
