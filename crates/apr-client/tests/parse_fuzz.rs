//! Every parser, given arbitrary bytes or mutated real captures, returns instead of panicking.

#![allow(clippy::unwrap_used)]

mod common;

use apr_client::{Captured, Termination};
use proptest::prelude::*;

fn captured(stdout: Vec<u8>, code: i32) -> Captured {
    Captured::from_parts(
        vec!["apr".into()],
        Termination::Exited(code),
        stdout,
        b"error: fuzz\n".to_vec(),
    )
}

fn run_all(c: &Captured) {
    for (_, parser) in common::all_parsers() {
        let _ = parser(c);
    }
}

/// Real stdout of every captured case (the seed corpus of the mutations).
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| {
        let corpus: Vec<Vec<u8>> = common::all_cases()
            .iter()
            .map(|case| common::capture(case).stdout)
            .filter(|s| !s.is_empty())
            .collect();
        assert!(
            !corpus.is_empty(),
            "no captures under tests/captures: run capture.sh"
        );
        corpus
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Truncate { at: usize },
}

fn apply(mut data: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if data.is_empty() {
            break;
        }
        match m {
            Mutation::Flip { at, byte } => {
                let i = at % data.len();
                data[i] = *byte;
            }
            Mutation::Delete { at, len } => {
                let i = at % data.len();
                let end = (i + len).min(data.len());
                data.drain(i..end);
            }
            Mutation::Insert { at, bytes } => {
                let i = at % (data.len() + 1);
                data.splice(i..i, bytes.iter().copied());
            }
            Mutation::Truncate { at } => {
                let i = at % data.len();
                data.truncate(i);
            }
        }
    }
    data
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let json_bytes = prop::sample::select(b"{}[]\",:-0123456789.eEnNaI \n\\tfu".to_vec());
    prop_oneof![
        (any::<usize>(), json_bytes).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (any::<usize>(), 1..64usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (
            any::<usize>(),
            prop_oneof![
                Just(b"NaN".to_vec()),
                Just(b"null".to_vec()),
                Just(b"-inf".to_vec()),
                Just(b"[[[[[[[[".to_vec()),
                Just(b"{\"a\":".to_vec()),
                Just(b"\"\\u00".to_vec()),
                prop::collection::vec(any::<u8>(), 0..16),
            ]
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(stdout in prop::collection::vec(any::<u8>(), 0..512), code in prop_oneof![Just(0), Just(5), Just(101), any::<i32>()]) {
        run_all(&captured(stdout, code));
    }

    #[test]
    fn json_like_text_never_panics(text in "[\\[\\]{}\":,0-9a-zA-Z .\\-\\n\\\\]{0,256}") {
        run_all(&captured(text.into_bytes(), 0));
    }

    #[test]
    fn mutated_captures_never_panic(seed in any::<prop::sample::Index>(), mutations in prop::collection::vec(mutation(), 1..6), code in prop_oneof![Just(0), Just(5), Just(8)]) {
        let corpus = corpus();
        let original = corpus[seed.index(corpus.len())].clone();
        run_all(&captured(apply(original, &mutations), code));
    }
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    run_all(&captured(deep.into_bytes(), 0));
    let mut tree = String::new();
    for i in 0..5_000 {
        tree.push_str(&format!(
            "{{\"name\":\"n{i}\",\"path\":\"p\",\"type\":\"group\",\"total_size\":1,\"tensor_count\":1,\"children\":["
        ));
    }
    tree.push_str(&"]}".repeat(5_000));
    run_all(&captured(tree.into_bytes(), 0));
}
