//! The README and the book (`docs/`) against the code: the generated chapters are fresh, every
//! link resolves, every chapter is in the summary, every key the repository's `suites.toml`
//! uses is documented, the README stays short and every command it shows runs or parses.

use crate::common::repo_root;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmgt(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tmgt"))
        .args(args)
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn chapters() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repo_root().join("docs/src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    out.sort();
    out
}

#[test]
fn the_generated_chapters_are_fresh() {
    for (chapter, args) in [
        ("checks.md", &["list-checks", "--format", "markdown"][..]),
        ("findings.md", &["ledger"][..]),
    ] {
        let out = tmgt(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            read(&repo_root().join("docs/src").join(chapter))
                == String::from_utf8(out.stdout).unwrap(),
            "docs/src/{chapter} is stale: run `tmgt {} > docs/src/{chapter}`",
            args.join(" ")
        );
    }
}

/// Relative link targets of a Markdown text: `](target)`, anchors dropped.
fn links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(t, _)| t.to_string()))
        .filter(|t| !t.starts_with("http") && !t.starts_with('#') && !t.starts_with("mailto:"))
        .map(|t| t.split('#').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn every_link_resolves_and_every_chapter_is_in_the_summary() {
    let mut files = chapters();
    files.push(repo_root().join("README.md"));
    for file in &files {
        for target in links(&read(file)) {
            let resolved = file.parent().unwrap().join(&target);
            assert!(
                resolved.exists(),
                "{}: link to {target} resolves to nothing",
                file.display()
            );
        }
    }
    let summary = read(&repo_root().join("docs/src/SUMMARY.md"));
    let listed = links(&summary);
    for chapter in chapters() {
        let name = chapter.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name == "SUMMARY.md" || listed.contains(&name),
            "docs/src/{name} is not in SUMMARY.md"
        );
    }
}

#[test]
fn every_key_the_repository_config_uses_is_documented() {
    let config: toml::Table = read(&repo_root().join("suites.toml")).parse().unwrap();
    let page = read(&repo_root().join("docs/src/configuration.md"));
    let mut keys = Vec::new();
    for (section, value) in &config {
        let Some(table) = value.as_table() else {
            continue;
        };
        match section.as_str() {
            // Named entries: their keys are documented, their names are the user's.
            "models" | "profiles" => {
                for entry in table.values().filter_map(toml::Value::as_table) {
                    keys.extend(entry.keys().cloned());
                }
            }
            "prompts" => {}
            // `[ladder.<TYPE>]` tables are threshold overrides, documented as such.
            "ladder" => keys.extend(
                table
                    .iter()
                    .filter(|(_, v)| !v.is_table())
                    .map(|(k, _)| k.clone()),
            ),
            "thresholds" => {
                for t in table.values().filter_map(toml::Value::as_table) {
                    keys.extend(t.keys().cloned());
                }
            }
            _ => keys.extend(table.keys().cloned()),
        }
    }
    keys.sort();
    keys.dedup();
    assert!(keys.len() > 30, "{keys:?}");
    for key in keys {
        // A key is documented as `key` or as `[section] key`.
        let documented = page.contains(&format!("`{key}`")) || page.contains(&format!("] {key}`"));
        assert!(
            documented,
            "suites.toml key `{key}` is not in docs/src/configuration.md"
        );
    }
}

/// Splits a command line as a shell would for the simple quoting the README uses.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[test]
fn the_readme_is_short_and_its_commands_run() {
    let readme = read(&repo_root().join("README.md"));
    assert!(
        readme.len() <= 8 * 1024,
        "the README is {} bytes; the rest belongs in docs/",
        readme.len()
    );
    let mut commands = 0;
    for block in readme.split("```sh\n").skip(1) {
        let block = block.split("```").next().unwrap();
        for line in block.lines() {
            let command = line.split(" #").next().unwrap().trim();
            if command.is_empty() {
                continue;
            }
            commands += 1;
            let w = words(command);
            match w[0].as_str() {
                // The set-up and test commands are this very test's job: they must exist.
                "scripts/setup" | "scripts/test" => {
                    assert!(repo_root().join(&w[0]).is_file(), "{command}");
                }
                "tmgt" => {
                    let args: Vec<&str> = w[1..].iter().map(String::as_str).collect();
                    // Cheap commands run; one that runs models or needs a finished run's report
                    // is held to parse (the suites' own tests run them).
                    let out = match args[0] {
                        "list-checks" | "ledger" => tmgt(&args),
                        _ => tmgt(&[&args[..], &["--help"]].concat()),
                    };
                    assert!(
                        out.status.success(),
                        "README: `{command}`: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                other => panic!("README: `{command}`: `{other}` is neither a script nor tmgt"),
            }
        }
    }
    assert!(commands >= 6, "{commands} commands");
}

#[test]
fn the_ledger_with_a_report_says_what_that_run_saw_of_each_entry() {
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().display().to_string();
    let run = tmgt(&[
        "run",
        "--filter",
        "suite=weights model=tiny-llama",
        "--out",
        &out_arg,
    ]);
    assert!(
        run.status.code().is_some(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = out.path().join("report.json");
    let page = tmgt(&["ledger", "--report", &report.display().to_string()]);
    assert!(
        page.status.success(),
        "{}",
        String::from_utf8_lossy(&page.stderr)
    );
    let page = String::from_utf8(page.stdout).unwrap();
    // The export's RoPE rows: one WGT002 and one WGT003 result of tiny-llama in that run.
    let entry = page
        .split("\n- ")
        .find(|e| e.contains("without the RoPE row permutation"))
        .unwrap_or_else(|| panic!("{page}"));
    assert!(entry.contains(": 2 results, e.g. `WGT00"), "{entry}");
}
