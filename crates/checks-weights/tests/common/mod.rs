//! Shared helpers: the bundled models' sources and files, and the real apr's imports of them.

use checks_structure::source::SourceModel;
use checks_weights::file::ConvertedFile;
use checks_weights::judge::{FileJudgement, judge_file, judge_file_in_chunks};
use checks_weights::map::Arch;
use std::path::{Path, PathBuf};
use std::process::Command;
use tmgt_check::ModelFacts;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn arch(model: &str) -> Arch {
    let facts = ModelFacts::from_hf_config(&root().join("models").join(model).join("config.json"))
        .expect("a bundled model's config");
    Arch {
        name: facts.architecture,
        heads: facts.heads,
        kv_heads: facts.kv_heads,
        tied: facts.tied_embeddings,
    }
}

/// Judges `file` whole-tensor-at-a-time (each tiny tensor is one chunk) and again in chunks
/// of 256 values, and checks both say the same: the chunked paths a real model takes.
pub fn judge(model: &str, file: &Path) -> FileJudgement {
    let source = SourceModel::open_dir(&root().join("models").join(model)).expect("source");
    let file = ConvertedFile::open(file).expect("opens");
    let whole = judge_file(&source, &arch(model), &file).expect("judges");
    let chunked = judge_file_in_chunks(&source, &arch(model), &file, 256).expect("judges");
    assert_eq!(
        serde_json::to_value(&chunked).expect("json"),
        serde_json::to_value(&whole).expect("json"),
        "judged in chunks: {}\nwhole: {}",
        chunked.summary(),
        whole.summary()
    );
    whole
}

/// `apr import` of a bundled model at `quant` (`f32`: no `--quantize`) into `dir`, by the
/// real apr.
pub fn apr_import(model: &str, quant: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{model}-{quant}.apr"));
    let apr = std::env::var_os("TMGT_APR").unwrap_or_else(|| "apr".into());
    let mut cmd = Command::new(apr);
    cmd.arg("import").arg(
        root()
            .join("models")
            .join(model)
            .canonicalize()
            .expect("model dir"),
    );
    if quant != "f32" {
        cmd.args(["--quantize", quant]);
    }
    let status = cmd
        .arg("-o")
        .arg(&out)
        .env("SOVEREIGN_DISABLE_UPDATE_CHECK", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("apr runs (scripts/setup installs it)");
    assert!(
        status.success(),
        "apr import {model} --quantize {quant}: {status}"
    );
    out
}
