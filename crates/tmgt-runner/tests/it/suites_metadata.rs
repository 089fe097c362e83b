//! The metadata suite through the built `tmgt` on files the test alters: llama.cpp's own GGUF
//! of tiny-llama and apr's f32 `.apr` of it, each given to tmgt as a ready-made file with one
//! behaviour-relevant field changed (through tmgt's GGUF writer, and by rewriting the `.apr`'s
//! JSON metadata in place). Each family's check fails on the file that changes one of its
//! fields, naming the key, and passes on every other file; the unaltered files pass all.

use crate::common;
use common::{link_repository_data, repo_root, run_report};

use checks_structure::layout::Layout;
use serde_json::Value;
use std::path::Path;
use tmgt_gguf::{GgufFile, Value as G};

/// An edit of one GGUF: the check it must fail, the key it must name, and the change.
type GgufEdit = (&'static str, &'static str, fn(&mut Vec<(String, G)>));

fn set(metadata: &mut Vec<(String, G)>, key: &str, value: G) {
    match metadata.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value,
        None => metadata.push((key.to_string(), value)),
    }
}

const GGUF_EDITS: [GgufEdit; 5] = [
    ("MET001", "llama.attention.head_count_kv", |m| {
        set(m, "llama.attention.head_count_kv", G::U32(4));
    }),
    ("MET002", "llama.rope.freq_base", |m| {
        set(m, "llama.rope.freq_base", G::F32(500_000.0));
    }),
    // A BOS the model's HF tokenizer never adds: llama.cpp would feed it to every prompt.
    ("MET003", "tokenizer.ggml.add_bos_token", |m| {
        set(m, "tokenizer.ggml.add_bos_token", G::Bool(true));
    }),
    ("MET004", "tokenizer.ggml.merges", |m| {
        if let Some((_, G::Array(merges))) =
            m.iter_mut().find(|(k, _)| k == "tokenizer.ggml.merges")
        {
            merges.swap(0, 1);
        }
    }),
    ("MET005", "tokenizer.chat_template", |m| {
        set(
            m,
            "tokenizer.chat_template",
            G::String("{{ messages }}".into()),
        );
    }),
];

/// An edit of an `.apr`'s JSON metadata: the check it must fail, the key, the change.
type AprEdit = (
    &'static str,
    &'static str,
    fn(&mut serde_json::Map<String, Value>),
);

const APR_EDITS: [AprEdit; 4] = [
    ("MET001", "num_kv_heads", |m| {
        m.insert("num_kv_heads".into(), 4.into());
    }),
    ("MET002", "rope_theta", |m| {
        m.insert("rope_theta".into(), 50_000.0.into());
    }),
    ("MET003", "tokenizer.bos_token_id", |m| {
        m.insert("tokenizer.bos_token_id".into(), 1.into());
    }),
    ("MET004", "tokenizer.merges", |m| {
        if let Some(Value::Array(merges)) = m.get_mut("tokenizer.merges") {
            merges.swap(0, 1);
        }
    }),
];

/// A copy of the `.apr` at `from` with its JSON metadata edited and written back in place,
/// padded with spaces to its old length (so no offset moves).
fn rewrite_apr(from: &Path, to: &Path, edit: fn(&mut serde_json::Map<String, Value>)) {
    let layout = Layout::read(from).unwrap();
    let mut bytes = std::fs::read(from).unwrap();
    let (start, end) = (layout.metadata.start as usize, layout.metadata.end as usize);
    let text = String::from_utf8_lossy(&bytes[start..end]).into_owned();
    let mut meta: serde_json::Map<String, Value> =
        serde_json::from_str(text.trim_end_matches(['\0', ' '])).unwrap();
    edit(&mut meta);
    let mut new = serde_json::to_vec(&meta).unwrap();
    assert!(new.len() <= end - start, "the edited metadata must fit");
    new.resize(end - start, b' ');
    bytes[start..end].copy_from_slice(&new);
    std::fs::write(to, bytes).unwrap();
}

fn model_entry(name: &str, artifact: &str) -> String {
    format!(
        "\n[models.{name}]\nsource = \"models/tiny-llama\"\noracle = \"oracle/tiny-llama\"\n\
         quants = [\"f32\"]\nppl_ceiling = 400.0\nartifact = \"{artifact}\"\n"
    )
}

#[test]
fn each_family_fails_on_its_altered_field_and_passes_on_the_faithful_file() {
    // apr's f32 .apr of tiny-llama, made (or found) by a run at the repository root.
    let (_, made) = run_report(&repo_root(), &["--filter", "MET001 model=tiny-llama"]);
    let apr = made["results"][0]["details"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|f| f.ends_with(".apr"))
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    std::fs::create_dir(dir.path().join("edits")).unwrap();
    let native = GgufFile::open(&repo_root().join("native/tiny-llama/f32.gguf")).unwrap();
    let mut config = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    let mut names = Vec::new();
    std::fs::copy(native.path(), dir.path().join("edits/faithful.gguf")).unwrap();
    config += &model_entry("gguf-faithful", "edits/faithful.gguf");
    names.push(("gguf-faithful".to_string(), None));
    for (code, key, edit) in GGUF_EDITS {
        let name = format!("gguf-{}", code.to_lowercase());
        let file = format!("edits/{name}.gguf");
        tmgt_gguf::copy_with_metadata(&native, &dir.path().join(&file), edit).unwrap();
        config += &model_entry(&name, &file);
        names.push((name, Some((code, key))));
    }
    std::fs::copy(&apr, dir.path().join("edits/faithful.apr")).unwrap();
    config += &model_entry("apr-faithful", "edits/faithful.apr");
    names.push(("apr-faithful".to_string(), None));
    for (code, key, edit) in APR_EDITS {
        let name = format!("apr-{}", code.to_lowercase());
        let file = format!("edits/{name}.apr");
        rewrite_apr(Path::new(&apr), &dir.path().join(&file), edit);
        config += &model_entry(&name, &file);
        names.push((name, Some((code, key))));
    }
    let list: Vec<String> = names.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    config += &format!("\n[profiles.edits]\nmodels = [{}]\n", list.join(", "));
    std::fs::write(dir.path().join("suites.toml"), config).unwrap();

    let (_, report) = run_report(dir.path(), &["--profile", "edits", "--filter", "metadata"]);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), names.len() * 5, "{results:?}");
    for (model, altered) in &names {
        for code in ["MET001", "MET002", "MET003", "MET004", "MET005"] {
            let r = results
                .iter()
                .find(|r| r["model"] == model.as_str() && r["code"] == code)
                .unwrap_or_else(|| panic!("no {code} for {model}"));
            let said = r["message"].as_str().unwrap();
            match altered {
                Some((c, key)) if *c == code => {
                    assert_eq!(r["verdict"], "fail", "{model} {code}: {r}");
                    assert!(said.contains(key), "{model} {code} names {key}: {said}");
                }
                // An .apr cannot carry a chat template: nothing to compare is a skip.
                _ if code == "MET005" && model.starts_with("apr-") => {
                    assert_eq!(r["verdict"], "skip", "{model} {code}: {r}");
                }
                _ => {
                    assert_eq!(r["verdict"], "pass", "{model} {code}: {r}");
                    assert!(r["evidence"]["count"].as_u64().unwrap() > 0, "{r}");
                }
            }
        }
    }
    // The example: the added BOS is named with what HF's tokenizer does.
    let bos = results
        .iter()
        .find(|r| r["model"] == "gguf-met003" && r["code"] == "MET003")
        .unwrap();
    assert!(
        bos["message"]
            .as_str()
            .unwrap()
            .contains("tokenizer.ggml.add_bos_token: true where false"),
        "{bos}"
    );
}

#[test]
fn the_tokenizer_checks_fail_on_a_misleading_gguf_and_pass_on_the_faithful_one() {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    std::fs::create_dir(dir.path().join("edits")).unwrap();
    let native = GgufFile::open(&repo_root().join("native/tiny-llama/f32.gguf")).unwrap();
    let mut config = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    std::fs::copy(native.path(), dir.path().join("edits/faithful.gguf")).unwrap();
    config += &model_entry("gguf-faithful", "edits/faithful.gguf");
    // The pre-tokenizer apr writes for LLaMA models, and a BOS HF never adds.
    tmgt_gguf::copy_with_metadata(&native, &dir.path().join("edits/pre.gguf"), |m| {
        set(m, "tokenizer.ggml.pre", G::String("default".into()));
    })
    .unwrap();
    config += &model_entry("gguf-pre-default", "edits/pre.gguf");
    tmgt_gguf::copy_with_metadata(&native, &dir.path().join("edits/bos.gguf"), |m| {
        set(m, "tokenizer.ggml.add_bos_token", G::Bool(true));
    })
    .unwrap();
    config += &model_entry("gguf-add-bos", "edits/bos.gguf");
    config += "\n[profiles.edits]\nmodels = [\"gguf-faithful\", \"gguf-pre-default\", \"gguf-add-bos\"]\n";
    std::fs::write(dir.path().join("suites.toml"), config).unwrap();

    let (_, report) = run_report(dir.path(), &["--profile", "edits", "--filter", "TKN001"]);
    let result = |model: &str| {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == model)
            .unwrap_or_else(|| panic!("no TKN001 for {model}"))
            .clone()
    };
    let faithful = result("gguf-faithful");
    assert_eq!(faithful["verdict"], "pass", "{faithful}");
    assert!(
        faithful["evidence"]["count"].as_u64().unwrap() > 1000,
        "{faithful}"
    );
    let pre = result("gguf-pre-default");
    assert_eq!(pre["verdict"], "fail", "{pre}");
    assert!(
        pre["message"].as_str().unwrap().contains(
            "prompt `code`: 5 ids where HF has 4; at position 2: \"(\" (8) where HF has \"(n\" (850)"
        ),
        "{pre}"
    );
    let bos = result("gguf-add-bos");
    assert_eq!(bos["verdict"], "fail", "{bos}");
    assert!(
        bos["message"]
            .as_str()
            .unwrap()
            .contains("as a prompt (with special tokens): 10 ids where HF has 9; at position 0: \"<|endoftext|>\" (0)"),
        "{bos}"
    );
}
