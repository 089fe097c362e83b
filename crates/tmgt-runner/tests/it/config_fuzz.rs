//! The configuration loader never panics: arbitrary text and random mutations of the real
//! suites.toml either load or come back as diagnostics.

use crate::common;
use common::{link_repository_data, repo_root};

use proptest::prelude::*;
use tmgt_check::Registry;
use tmgt_runner::config::Config;

fn load(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    link_repository_data(dir.path());
    let file = dir.path().join("suites.toml");
    std::fs::write(&file, text).unwrap();
    let registry = Registry::load().unwrap();
    if let Err(e) = Config::load(&file, None, &registry) {
        // Rendering must not panic either.
        let mut out = String::new();
        miette::GraphicalReportHandler::new()
            .render_report(&mut out, &e)
            .unwrap();
        assert!(!out.is_empty());
    }
}

/// One edit of the original text: delete, insert or replace a short run of bytes.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, String),
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for edit in edits {
        let len = bytes.len().max(1);
        match edit {
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                bytes.drain(at.min(bytes.len())..end);
            }
            Edit::Insert(at, s) => {
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, s.bytes());
            }
            Edit::Replace(at, s) => {
                let at = (at % len).min(bytes.len());
                let end = (at + s.len()).min(bytes.len());
                bytes.splice(at..end, s.bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        Just("[".to_string()),
        Just("]".to_string()),
        Just("\"".to_string()),
        Just("=".to_string()),
        Just("\n".to_string()),
        Just("-1".to_string()),
        Just("1e999".to_string()),
        Just("[models.x]".to_string()),
        Just("{".to_string()),
        "[a-z_.]{1,8}",
    ];
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), token.clone()).prop_map(|(a, s)| Edit::Insert(a, s)),
        (any::<usize>(), token).prop_map(|(a, s)| Edit::Replace(a, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        load(&text);
    }

    #[test]
    fn mutated_config_never_panics(edits in proptest::collection::vec(edit(), 1..6)) {
        let original = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
        load(&apply(&original, &edits));
    }
}
