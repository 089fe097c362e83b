//! Every committed oracle reads like a working model: the degenerate-continuation warning of
//! `tmgt oracle` says nothing about any of them, plain or BOS-prefixed, so when it speaks
//! about a new one it is worth reading.

use std::path::Path;

#[test]
fn no_committed_oracle_is_degenerate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../oracle");
    let mut judged = 0;
    for model in std::fs::read_dir(&root).unwrap() {
        let dir = model.unwrap().path();
        for prompt in ["arithmetic", "code", "completion", "greeting"] {
            let oracle = tmgt_oracle::load(&dir, prompt).unwrap();
            let bos = oracle.bos.as_ref().map(|b| b.tokens.as_slice());
            for tokens in std::iter::once(oracle.tokens.as_slice()).chain(bos) {
                judged += 1;
                assert_eq!(
                    tmgt_oracle::degenerate(tokens),
                    None,
                    "{}: {:?}",
                    oracle.path.display(),
                    oracle.text
                );
            }
        }
    }
    assert!(judged >= 40, "{judged} continuations judged");
}
