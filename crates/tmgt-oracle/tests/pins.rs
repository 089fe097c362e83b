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
        "604a69b967b13e8fbae91ee4025ab5ab3b0b9288fc27dbeea8b166fe0a558f11",
    ),
    (
        "oracle/smollm2-135m/code.json",
        "d5fa7571019decadf1578c1a52dcc617b1195d8f4735c259c6ccc90a695533b5",
    ),
    (
        "oracle/smollm2-135m/completion.json",
        "4c78d25da33b808bf44a92ae3e7305d8e9200f4f40d01bebdf3d61f03ba85a6b",
    ),
    (
        "oracle/smollm2-135m/greeting.json",
        "a95d91954b4945155ecbe5df384461e2e21734c0b42b94be690db8dfc96e851c",
    ),
    (
        "oracle/smollm2-135m/perplexity.json",
        "6d6215811e969c053a1802acb45997f85996afd4c9f8c261ee7165ac97fe4b27",
    ),
    (
        "oracle/tiny-gpt2/arithmetic.json",
        "91a06030eea6daa8f98347ea03e3cf4dae6cb0adcf07e36690ed97ba568333b7",
    ),
    (
        "oracle/tiny-gpt2/code.json",
        "8153cf6d6c623b91be4974c25a149e6553955baf70655172f1c9d8b82f1d8152",
    ),
    (
        "oracle/tiny-gpt2/completion.json",
        "7de323097c3d575362e74cae02211047531dcbb7eb959a29f31fdbf07b84187d",
    ),
    (
        "oracle/tiny-gpt2/greeting.json",
        "f926a22448b9b18aae3d3add886d52ba50c45f4d849f57466c9f3efdcc865c7b",
    ),
    (
        "oracle/tiny-gpt2/perplexity.json",
        "3a8b0ad25baedeefeac11fb43a3e614f5936669d6e2fa03c0785ff77ebb1a42f",
    ),
    (
        "oracle/tiny-llama/arithmetic.json",
        "b66d750c675173cc9d3282c853f0c728b55dc3e44497d7c888f35a963435d925",
    ),
    (
        "oracle/tiny-llama/code.json",
        "1b9659cc3b54b83efaab4ebfd12c54056a1635d476690163965eaa388e1cd62e",
    ),
    (
        "oracle/tiny-llama/completion.json",
        "11365962d5a6e393b194ec57a4a03358b961ff8e2f4afefe023de5cd144801f9",
    ),
    (
        "oracle/tiny-llama/greeting.json",
        "a6ea7e93a98183a481562472edf40a7ee0f87da4dd0a163ddfb57ad68ddada5f",
    ),
    (
        "oracle/tiny-llama/perplexity.json",
        "f3e8456f079e7b8de06f14464a15238a4ec001dc6a018f1c4477ceffdc8c5c46",
    ),
    (
        "oracle/tiny-qwen2/arithmetic.json",
        "f84364bd4ad7776dd38eeb5832c9af67663d5822d49becfed727de2913d6eb64",
    ),
    (
        "oracle/tiny-qwen2/code.json",
        "44a3585786814eea02b4e66ffdb9a359de6666a5b49db0f88aaed3e9a033e777",
    ),
    (
        "oracle/tiny-qwen2/completion.json",
        "425c61de45c7b74bd9fcd4c1ec687e7f980a2d55e9c73a9ad58d7f92f93577e1",
    ),
    (
        "oracle/tiny-qwen2/greeting.json",
        "918ef3105a792b89913866d0eefdb104841481ac64607ba2bcc7a2e59ffdf5cf",
    ),
    (
        "oracle/tiny-qwen2/perplexity.json",
        "0b09f3523c09d0b9488563dc0c5214d5d110412a05bdf74ec8051227fdecf8aa",
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
