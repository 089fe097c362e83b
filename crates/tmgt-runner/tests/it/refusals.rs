//! A model apr refuses is told once: every result whose apr call on the file failed the same
//! way is folded under `apr refuses <file>: <cause>`, with the count, in every reporter.

use crate::common;
use common::{link_repository_data, repo_root, run_report};
use tmgt_gguf::{GgufFile, Value as G};

/// The repository's suites.toml in `dir`, with an entry `name` checking `file` as given (the
/// model `model`'s f32 level, its source and oracle) in a profile of the same name.
fn given_file(dir: &std::path::Path, name: &str, model: &str, file: &str) {
    let mut config = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    config += &format!(
        "\n[models.{name}]\nsource = \"models/{model}\"\noracle = \"oracle/{model}\"\n\
         quants = [\"f32\"]\nppl_ceiling = 450.0\nartifact = \"{file}\"\n\
         \n[profiles.{name}]\nmodels = [\"{name}\"]\n"
    );
    std::fs::write(dir.join("suites.toml"), config).unwrap();
}

#[test]
fn a_model_apr_refuses_is_one_line_with_its_cause_and_count() {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    std::fs::create_dir(dir.path().join("edits")).unwrap();
    // tiny-llama's own GGUF naming an architecture apr has no forward for.
    let native = GgufFile::open(&repo_root().join("native/tiny-llama/f32.gguf")).unwrap();
    tmgt_gguf::copy_with_metadata(&native, &dir.path().join("edits/refused.gguf"), |m| {
        for (key, value) in m.iter_mut() {
            if key == "general.architecture" {
                *value = G::String("mamba".into());
            }
        }
    })
    .unwrap();
    given_file(dir.path(), "refused", "tiny-llama", "edits/refused.gguf");

    let (_, json) = run_report(
        dir.path(),
        &[
            "--profile",
            "refused",
            "--filter",
            "check=RUN002|LPB001|PRM001",
        ],
    );
    let report: tmgt_report::Report = serde_json::from_value(json).unwrap();
    let errors: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.verdict == tmgt_report::ReportVerdict::Error)
        .collect();
    assert!(errors.len() >= 2, "{:#?}", report.results);
    let groups = report.blocked();
    assert_eq!(groups.len(), 1, "one cause: {groups:#?}");
    let group = &groups[0];
    assert!(
        group
            .artifact
            .starts_with("apr refuses edits/refused.gguf: apr exited with code"),
        "{}",
        group.artifact
    );
    assert_eq!(
        group.results.len(),
        errors.len(),
        "every error is folded under it"
    );
    let line = group.headline(|s| format!("`{s}`"));
    eprintln!("{line}");
    assert!(
        line.ends_with(&format!("{} results could not run", errors.len())),
        "{line}"
    );
}

#[test]
fn a_ready_made_file_has_results_only_for_what_it_can_be_judged_on() {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    // llama.cpp's own GGUF of tiny-qwen2, checked as given at the f32 level alone.
    let file = repo_root().join("native/tiny-qwen2/f32.gguf");
    given_file(
        dir.path(),
        "given",
        "tiny-qwen2",
        &file.display().to_string(),
    );
    let (_, json) = run_report(
        dir.path(),
        &[
            "--profile",
            "given",
            "--filter",
            "suite=runtime|canary|roundtrip|metadata|weights|llamacpp-text",
        ],
    );
    let report: tmgt_report::Report = serde_json::from_value(json).unwrap();
    // The GGUF itself is judged: apr runs it (RUN002), its metadata and weights are read.
    for code in ["RUN002", "MET001", "WGT002"] {
        assert!(
            report.results.iter().any(|r| r.code == code),
            "{code}: {:#?}",
            report.results
        );
    }
    // What it cannot be judged on is no result, and the report says why, once per reason.
    assert!(
        !report
            .results
            .iter()
            .any(|r| r.message.contains("checked as given")
                || r.message.contains("level in its entry")),
        "{:#?}",
        report.results
    );
    let outside: Vec<&str> = report.outside_entry.iter().map(|o| o.id.as_str()).collect();
    for id in [
        "RUN001/f32-apr-runtime-diverges/given/arithmetic",
        "CAN001/int8-text-differs/given/arithmetic",
        "RTP001/gguf-roundtrip-changes-tokens/given/arithmetic",
        "LCT002/native-f32-llamacpp-diverges/given/arithmetic",
        "WGT001/apr-weights-depart-from-source/given/f32",
    ] {
        assert!(outside.contains(&id), "{id}: {outside:?}");
    }
    let lines = tmgt_report::group::outside_entry(&report);
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("given lists no int8 level in its entry")),
        "{lines:?}"
    );
    assert_eq!(
        report.summary.total,
        report.results.len(),
        "outside the entry is not a result"
    );
    assert_eq!(report.summary.not_run, 0, "nor a result not run");
    let markdown = tmgt_report::markdown::render(&report);
    assert!(
        markdown.contains(&format!(
            "Not judged, their entries lacking what they ask for ({} instances)",
            outside.len()
        )),
        "{markdown}"
    );
}
