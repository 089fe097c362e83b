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
        "bc3928fbc3e294aadb2f642da1ab9a49ced4af16fc0936df72bae38035d970b9",
    ),
    (
        "oracle/smollm2-135m/code.json",
        "9931f2136fed1467352cf6155271577208074f80562c85f99c66a3eff3496527",
    ),
    (
        "oracle/smollm2-135m/completion.json",
        "81c8c934c05e76f74539f8cca91859ad05cc4ac832f9e91d303a512c35d4a6f6",
    ),
    (
        "oracle/smollm2-135m/greeting.json",
        "b6b72e3b2454504241946d3bd42cff3f0bc3339b915167fa97e00eeb35cf1034",
    ),
    (
        "oracle/smollm2-135m/perplexity.json",
        "7eddf58a36f8609eca552868fb442d09908d873f690edc7cd3203482c5af6de7",
    ),
    (
        "oracle/tiny-gpt2/arithmetic.json",
        "50c0737ed604c2e97080c749fb9e3a1d936d5470dac5f4adcf1f0527f0618f30",
    ),
    (
        "oracle/tiny-gpt2/code.json",
        "f9aa90415678d67a8aa69ca8e42c788873cb5db892e943f6cc117e2a6ec1823c",
    ),
    (
        "oracle/tiny-gpt2/completion.json",
        "9418e84a1c3507077e94eb5d83a6f74b610f339e823fe4231584b9f433bc779d",
    ),
    (
        "oracle/tiny-gpt2/greeting.json",
        "76eb4fc392e288e1362a1326cfa9974be153408a9cd2fa0d8d0db80b4fb00bf2",
    ),
    (
        "oracle/tiny-gpt2/perplexity.json",
        "50e05aee6185fb0dacb38ace9c0e2fa23f8ade7326440ae82ee26630abe6fb2c",
    ),
    (
        "oracle/tiny-llama/arithmetic.json",
        "f03514d7b03157b28b17f7dcdc65384495ce535feb384ed30d8431709f3605da",
    ),
    (
        "oracle/tiny-llama/code.json",
        "80e86cc0d174d6f59e314db8edd2bf427afc905009937a07f4ba00efa6cde826",
    ),
    (
        "oracle/tiny-llama/completion.json",
        "b5193f6d67ba11310674212ca0ffe8d56d4861a852d531d360e779c10781378d",
    ),
    (
        "oracle/tiny-llama/greeting.json",
        "0a48ef08bd020b1991a795176f06c5bc7f5e59d462259c34d2d5d5bfbba0ff04",
    ),
    (
        "oracle/tiny-llama/perplexity.json",
        "1b0183ddb3101845cead982dee0d121ffbd56efe74f120600285096712e66932",
    ),
    (
        "oracle/tiny-qwen2/arithmetic.json",
        "ae566e2927199a72250819537a24d62c62a9cac3318b5a9f95638af251cc1bf4",
    ),
    (
        "oracle/tiny-qwen2/code.json",
        "8ecbe0bc93d31122ec8f252cd87a9c900c488f55116d89e823401106ff9e3da9",
    ),
    (
        "oracle/tiny-qwen2/completion.json",
        "4e26c752da2ddac67bfffea9c024b01daa98c95f1f757e328ddb95f50caaa0b8",
    ),
    (
        "oracle/tiny-qwen2/greeting.json",
        "908f5ae8acf455a1bd02699f06b98c6813fcde0e24c2e5346cfd7934b3fda8bf",
    ),
    (
        "oracle/tiny-qwen2/perplexity.json",
        "d91ea6f200e20707b22d4d4d143478152a2feca3f371644a03beeec9e4bcf980",
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
