//! Headless Chromium and xmllint for the report tests (Debian's `chromium` and
//! `libxml2-utils`; `scripts/test` installs both). A missing tool fails the test with how to
//! get it: these tests must not pass by doing nothing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: scripts/test installs it (apt-get install -y {package})"
            )
        })
}

/// What Chromium made of a page.
#[derive(Debug)]
pub struct Rendered {
    /// The DOM after the page's scripts ran.
    pub dom: String,
    /// Every console message (the pages log nothing, so any is a problem: an uncaught
    /// exception shows here as `Uncaught ...`).
    pub console: Vec<String>,
}

fn chromium_command(profile: &Path) -> Command {
    let mut c = Command::new(tool("chromium", "chromium"));
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=3000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

fn url(page: &Path) -> String {
    format!("file://{}", page.canonicalize().unwrap().display())
}

/// Loads `page` in headless Chromium (a fresh profile) and returns its DOM and console.
pub fn render(page: &Path) -> Rendered {
    let profile = tempfile::tempdir().unwrap();
    let out = chromium_command(profile.path())
        .arg("--dump-dom")
        .arg(url(page))
        .output()
        .expect("chromium runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {stderr}");
    Rendered {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        console: stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

/// Takes a screenshot of `page` into `png`.
pub fn screenshot(page: &Path, png: &Path, width: u32, height: u32) {
    let profile = tempfile::tempdir().unwrap();
    let out = chromium_command(profile.path())
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg("--hide-scrollbars")
        .arg(url(page))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(png).expect("a screenshot");
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        bytes.len() > 10_000,
        "a blank screenshot ({} bytes)",
        bytes.len()
    );
}

/// The value of `data-tmgt-ready` on `<html>`: the matrix cells the page's script wired up.
pub fn ready_marker(dom: &str) -> Option<usize> {
    let at = dom.find("data-tmgt-ready=\"")? + "data-tmgt-ready=\"".len();
    dom[at..].split('"').next()?.parse().ok()
}

/// Occurrences of `needle` in `haystack`.
pub fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Validates `xml` against the JUnit schema committed beside these tests.
pub fn validate_junit(xml: &Path) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tmgt-report/tests/junit.xsd")
        .canonicalize()
        .unwrap();
    let out = Command::new(tool("xmllint", "libxml2-utils"))
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(xml)
        .output()
        .expect("xmllint runs");
    assert!(
        out.status.success(),
        "{} does not validate against {}:\n{}",
        xml.display(),
        schema.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
