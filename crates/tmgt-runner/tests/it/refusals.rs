//! A model apr refuses is told once: every result whose apr call on the file failed the same
//! way is folded under `apr refuses <file>: <cause>`, with the count, in every reporter.

use crate::common;
use common::{link_repository_data, repo_root, run_report};
use tmgt_gguf::{GgufFile, Value as G};

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
    let mut config = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    config += "\n[models.refused]\nsource = \"models/tiny-llama\"\noracle = \"oracle/tiny-llama\"\n\
               quants = [\"f32\"]\nppl_ceiling = 400.0\nartifact = \"edits/refused.gguf\"\n\
               \n[profiles.refused]\nmodels = [\"refused\"]\n";
    std::fs::write(dir.path().join("suites.toml"), config).unwrap();

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
