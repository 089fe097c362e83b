//! Every committed oracle and bundled model file is pinned by sha256, so regenerating one
//! (deliberately or by accident) shows up here and must be committed together with new pins.
//! To re-pin after a deliberate regeneration, print the new table with
//! `git ls-files oracle models | xargs sha256sum`.

use std::path::Path;

const PINS: &[(&str, &str)] = &[
    (
        "models/smollm2-135m/config.json",
        "a2a6c6ddbf6b028bef96ed74549775781ead02781f31600d4d23d49b1d4847b3",
    ),
    (
        "models/smollm2-135m/generation_config.json",
        "371bbd21a2e8c8a48325aeaabfe0acff6e76c8fd7c08152c40fe956c96253965",
    ),
    (
        "models/smollm2-135m/tokenizer.json",
        "2b1f1605e43b544a530996f82a5ba1e35fbdda61b3a3a696012b77b873cbdfda",
    ),
    (
        "models/smollm2-135m/tokenizer_config.json",
        "40de5a39c9a17baa5cfd130c73d1033abb6d3552a013de28862f312bfeb25c3c",
    ),
    (
        "models/tiny-gpt2/config.json",
        "4e031b3b95443fc4cba6690e1cdd7e48bebdf6c7dbb8806461473aede55f710e",
    ),
    (
        "models/tiny-gpt2/generation_config.json",
        "8e7d81a4ad69b0bd3a2c35f56e8d2231218f9adae555f3b68ca17983e0f2b5ef",
    ),
    (
        "models/tiny-gpt2/model.safetensors",
        "c0fdb4369462e1ef7aed1b56eaed66012786b2b888c8208eaad9635f25ee3e39",
    ),
    (
        "models/tiny-gpt2/tokenizer.json",
        "3fbb2ce22eb4529a989bb330a337ed0c4791b7303454bfed89493ab704fc3fdc",
    ),
    (
        "models/tiny-gpt2/tokenizer_config.json",
        "6bc8abd32ceb1eac7901cd94f8825438e4b9a7974bd1b80028ddcfaf7965063a",
    ),
    (
        "models/tiny-llama/config.json",
        "6924d144b00d4d052fbcde03ed10cc82b0cdeda99003686350ac6f676df2cf9f",
    ),
    (
        "models/tiny-llama/generation_config.json",
        "8e7d81a4ad69b0bd3a2c35f56e8d2231218f9adae555f3b68ca17983e0f2b5ef",
    ),
    (
        "models/tiny-llama/model.safetensors",
        "2062a30885c2c9f7f3c02b96c0651c771124975b46b9dc40f78c7b00d3f2de16",
    ),
    (
        "models/tiny-llama/tokenizer.json",
        "3fbb2ce22eb4529a989bb330a337ed0c4791b7303454bfed89493ab704fc3fdc",
    ),
    (
        "models/tiny-llama/tokenizer_config.json",
        "6bc8abd32ceb1eac7901cd94f8825438e4b9a7974bd1b80028ddcfaf7965063a",
    ),
    (
        "models/tiny-qwen2/config.json",
        "dcc5f0e8ebd01f44b7b62217a4293171192ceb72032c1545409baec47c305a5e",
    ),
    (
        "models/tiny-qwen2/generation_config.json",
        "8e7d81a4ad69b0bd3a2c35f56e8d2231218f9adae555f3b68ca17983e0f2b5ef",
    ),
    (
        "models/tiny-qwen2/model.safetensors",
        "09357859951b3e4947db55bf73e5ec976a9c7eb05fefa5b4b6043e00a578d2de",
    ),
    (
        "models/tiny-qwen2/tokenizer.json",
        "3fbb2ce22eb4529a989bb330a337ed0c4791b7303454bfed89493ab704fc3fdc",
    ),
    (
        "models/tiny-qwen2/tokenizer_config.json",
        "6bc8abd32ceb1eac7901cd94f8825438e4b9a7974bd1b80028ddcfaf7965063a",
    ),
    (
        "oracle/gpt2-124m/arithmetic.json",
        "067538c08a45ba7841302095d042338e5a7b4d5e042b369d837fe5a4b6d0ce17",
    ),
    (
        "oracle/gpt2-124m/code.json",
        "cd2de5af8a634f22a2b4525d3efab17a7290def0addcf489c4bd9a098e11a568",
    ),
    (
        "oracle/gpt2-124m/completion.json",
        "5a3b3001c14d429f29a1b8c3436ea719428eebdf860d9118dfb9f5264e7416d5",
    ),
    (
        "oracle/gpt2-124m/greeting.json",
        "accf174793543dd7e62e7692640e334b2ae10a74450f4cd25eb600cdc3117753",
    ),
    (
        "oracle/qwen2-0.5b/arithmetic.json",
        "9f38d4d8c6236a8c9cfbd356106a956b89b759aec6999ae8626fc2712895305d",
    ),
    (
        "oracle/qwen2-0.5b/code.json",
        "991b1c210a7c6229c4218ba1147c33450a95139b7b16d38501a41fba98061fef",
    ),
    (
        "oracle/qwen2-0.5b/completion.json",
        "dc9564792c11e5dc99093cc96c1b339e8ee93e1db25ee0d8cc11ed34f5a0ea8b",
    ),
    (
        "oracle/qwen2-0.5b/greeting.json",
        "b1ec6952c1dcfb390d34f6a65ce0dfb7bdd2efbaecc7b1dc02db1f45ac091f0d",
    ),
    (
        "oracle/smollm-135m/arithmetic.json",
        "4fc86efa24fc56a0493b2ee2ccb17b5e4351afa46c4b4ce2e6eca6de81434cca",
    ),
    (
        "oracle/smollm-135m/code.json",
        "c474ac828bc1b2b0f8ceb9a874fa9567c8315e615ed2d1a95ded21ee6618e100",
    ),
    (
        "oracle/smollm-135m/completion.json",
        "2856d78a5ebb0856bcfd3a2bab1b73143f0e8c0242bf56b645e89ee12adbb078",
    ),
    (
        "oracle/smollm-135m/greeting.json",
        "1c317c01e73b3a4479eafa3a53843daeddbd073b90307488a1d0553a39a2b1a6",
    ),
    (
        "oracle/smollm2-135m/arithmetic.json",
        "8f34344ca3d1519a26f5195d7b123fd07f51e32c580468bb8fdbfd130451d2a7",
    ),
    (
        "oracle/smollm2-135m/code.json",
        "99a9893fa68be3eaabc0e16d3a7d5f364a139d591cb48527088328801dde3614",
    ),
    (
        "oracle/smollm2-135m/completion.json",
        "ebe7e29bb8b634c7de4a8a1143284dce0a560910158fb912c8954dcdaa710960",
    ),
    (
        "oracle/smollm2-135m/greeting.json",
        "a2b636143531c7185952ac99faeb94eb4255817e4fb415d387949f2da66dc8f5",
    ),
    (
        "oracle/smollm2-135m/perplexity.json",
        "93ed42e68e56d6d14fe3d8e2ff0ac73449da4cf9a4983c45d24c18f051a87252",
    ),
    (
        "oracle/tiny-gpt2/arithmetic.json",
        "be77c4cee62ba4706daa039035dce0660f428761630165f096cdb79530c4c391",
    ),
    (
        "oracle/tiny-gpt2/code.json",
        "a26d85c6a647c249deffcad10119eef7f174e79d612336c12342375bdf1d1a7d",
    ),
    (
        "oracle/tiny-gpt2/completion.json",
        "16e9ae6c6a870f658ab41559a088f8f11e3f51cd9d62f244c3677dd621b7e914",
    ),
    (
        "oracle/tiny-gpt2/greeting.json",
        "447def07f7a6618e82bb2bc071864d93f0b94dc0e9da55f5a8b57954af311735",
    ),
    (
        "oracle/tiny-gpt2/perplexity.json",
        "ff68901c61e6fdd10bad6dda63e4523e22493ac62f8822fd87dc08a6714c7fe4",
    ),
    (
        "oracle/tiny-llama/arithmetic.json",
        "b1bade672a4df48a8e9f2f60c03a112eeb8949ad0862cb400ccb15eb44d2a3ee",
    ),
    (
        "oracle/tiny-llama/code.json",
        "9595d28d265a9df41a5dcb279e7f643293abc0454bd5b50861ba3e06d7ee1444",
    ),
    (
        "oracle/tiny-llama/completion.json",
        "4b8b0bada23d093ab650732a2b57f9dc8bb566a9c7149f7d68681c2be24ca0b6",
    ),
    (
        "oracle/tiny-llama/greeting.json",
        "6255f8a8b9da515083cedb3588214fbc0d3e6dfb2bf83e0e3d9282d8cebbc58d",
    ),
    (
        "oracle/tiny-llama/perplexity.json",
        "969ca6fa75bc6cfba721e8345382dfff98f327afa14e290e371ff4a655e29943",
    ),
    (
        "oracle/tiny-qwen2/arithmetic.json",
        "7f892f13694a001aedfcc1615dad6f9754ce6bbf7a50378ad8f9f8eb694a0677",
    ),
    (
        "oracle/tiny-qwen2/code.json",
        "cdc875b857014037e2666902dd6b8f631ad72c2b539c84942c8228bf5737fa60",
    ),
    (
        "oracle/tiny-qwen2/completion.json",
        "6b48f90ffb5095a21b487415ceb63f00929f5baedc72a161c24d8c4db2e17b6e",
    ),
    (
        "oracle/tiny-qwen2/greeting.json",
        "731a10edc94b94da76039c6fc92af260c4659ca2fd4b455e5ace047fb3839cf1",
    ),
    (
        "oracle/tiny-qwen2/perplexity.json",
        "b22e722c957653265e3b8cab483af945a181f9f92d38cdbd108c0a727d09f45d",
    ),
];

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn every_pinned_file_has_its_pinned_hash() {
    let mut changed = Vec::new();
    for (path, pinned) in PINS {
        let actual =
            tmgt_oracle::sha256_file(&root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        if actual != *pinned {
            changed.push(format!("{path}: pinned {pinned}, now {actual}"));
        }
    }
    assert!(
        changed.is_empty(),
        "files changed since they were pinned:\n{}",
        changed.join("\n")
    );
}

#[test]
fn every_oracle_file_is_pinned() {
    let mut unpinned = Vec::new();
    for model in std::fs::read_dir(root().join("oracle")).unwrap() {
        let model = model.unwrap().path();
        for file in std::fs::read_dir(&model).unwrap() {
            let file = file.unwrap().path();
            let rel = file
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if file.extension().is_some_and(|e| e == "json") && !PINS.iter().any(|(p, _)| *p == rel)
            {
                unpinned.push(rel);
            }
        }
    }
    assert!(
        unpinned.is_empty(),
        "oracle files without a pin: {unpinned:?}"
    );
}

#[test]
fn each_tmgt_oracle_records_the_pinned_model_files_it_was_made_from() {
    for model in ["tiny-llama", "tiny-qwen2", "tiny-gpt2"] {
        let dir = root().join("oracle").join(model);
        for prompt in ["arithmetic", "code", "completion", "greeting"] {
            let oracle = tmgt_oracle::load(&dir, prompt).unwrap();
            let recorded = &oracle.provenance.as_ref().expect("provenance").model_files;
            assert!(
                recorded.contains_key("model.safetensors"),
                "{model}/{prompt}"
            );
            for (file, hash) in recorded {
                let path = format!("models/{model}/{file}");
                let pin = PINS
                    .iter()
                    .find(|(p, _)| *p == path)
                    .unwrap_or_else(|| panic!("{path} is not pinned"));
                assert_eq!(pin.1, hash, "{model}/{prompt} records another {file}");
            }
            oracle
                .verify_model(&root().join("models").join(model))
                .unwrap();
        }
    }
}
