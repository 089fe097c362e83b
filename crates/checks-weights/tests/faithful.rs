//! Faithful files pass with every tensor compared: llama.cpp's own F32 conversions (the GGUF
//! map's test against llama.cpp's converter) and the real apr's imports at every level it
//! writes (the apr map's and the APR reader's test).

mod common;

use common::{apr_import, judge, root};
use tmgt_testkit::{DEFAULT_MODELS, bundled_models};

#[test]
fn llama_cpp_native_f32_files_hold_every_source_tensor_bit_exactly() {
    for model in bundled_models() {
        let j = judge(model, &root().join("native").join(model).join("f32.gguf"));
        assert!(j.faithful(), "{model}: {}", j.summary());
        assert_eq!(j.tensors_compared, j.expected, "{model}");
        assert!(
            j.elements_compared > 100_000,
            "{model}: {}",
            j.elements_compared
        );
    }
}

#[test]
fn apr_imports_at_every_level_agree_within_their_type_bounds() {
    let dir = tempfile::tempdir().expect("tmp");
    for model in DEFAULT_MODELS {
        for quant in ["f32", "fp16", "int8", "int4", "q4k"] {
            let file = apr_import(model, quant, dir.path());
            let j = judge(model, &file);
            println!("{model} {quant}: {} {:?}", j.summary(), j.storage);
            assert!(j.faithful(), "{model} {quant}: {}", j.summary());
            assert_eq!(j.tensors_compared, j.expected, "{model} {quant}");
        }
    }
}
