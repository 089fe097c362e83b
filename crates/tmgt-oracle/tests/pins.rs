//! Every committed oracle and bundled model file is pinned by sha256, so regenerating one
//! (deliberately or by accident) shows up here and must be committed together with new pins.
//! To re-pin after a deliberate regeneration, print the new table with
//! `git ls-files oracle models | xargs sha256sum`.

use std::path::Path;

const PINS: &[(&str, &str)] = &[
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
        "oracle/tiny-gpt2/arithmetic.json",
        "f145d578d6a069aa331c4572524a52ddafb9f3207ba6671827905c273f4c82f2",
    ),
    (
        "oracle/tiny-gpt2/code.json",
        "cf9bb873c63ff16e2312c4dcab3730f24ac9f0372c07b907adf98cf2b92e346a",
    ),
    (
        "oracle/tiny-gpt2/completion.json",
        "33b5642a6c9d50998757e465420753ea1c272225d2f72c59c43f60bd09b1f128",
    ),
    (
        "oracle/tiny-gpt2/greeting.json",
        "23b4443e1779f9395a4f522ce7a6cfca2a3c26048e6850ddc5fa601849022186",
    ),
    (
        "oracle/tiny-gpt2/perplexity.json",
        "e3d1ec2182946204f696b00a0cd8a2c89f348a9876b4973ce9e3c13e4fadb5be",
    ),
    (
        "oracle/tiny-llama/arithmetic.json",
        "e585486bf89aa6127b6fbce83794d4a67f97f952a9f3f1afa73e4cb13275f027",
    ),
    (
        "oracle/tiny-llama/code.json",
        "cec4889a4b037d63e77cad6c0a37ab4879316d9f80f7989ad5afccc1f26eda1d",
    ),
    (
        "oracle/tiny-llama/completion.json",
        "8d25519733fae965226471fa786bbac3cde2c115f2632e09b0e8980054cb3b36",
    ),
    (
        "oracle/tiny-llama/greeting.json",
        "73212ada6123ac713c465ba47292ead82d16171fa9177e1cf46e5229dde6d4fe",
    ),
    (
        "oracle/tiny-llama/perplexity.json",
        "e08a40d86e27531033ca9b968624c4b1c1eb11d7f35c74002850b2d4477c7c0f",
    ),
    (
        "oracle/tiny-qwen2/arithmetic.json",
        "697c4cd08dc55679c03f08a1c1a258575da38e954402ab5a35a8c2bafa9eb93c",
    ),
    (
        "oracle/tiny-qwen2/code.json",
        "b6288c225548498a26d4e36f47ebc7edcc96c53e57beeaed8f2a70b16e4944f8",
    ),
    (
        "oracle/tiny-qwen2/completion.json",
        "8b46bfaf09bddaebd77379a91e1dc02ce7e713c066462714338196b324c3c63c",
    ),
    (
        "oracle/tiny-qwen2/greeting.json",
        "87b08fefae49327fbf9f1bd756880ce6e94df3f84585d4d27baea6ccb3cbe00c",
    ),
    (
        "oracle/tiny-qwen2/perplexity.json",
        "4227e8849a65794f117eb7f55d69f8440557f586f39ab5e8f9acc6680a682634",
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
