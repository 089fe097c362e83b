//! Names a conversion changes without changing behaviour, mapped once so that a check judges
//! the file and not the converter's spelling.

/// llama.cpp's `general.architecture` for an HF `model_type`, as llama.cpp's
/// `convert_hf_to_gguf.py` registers each model class (Mistral and Mixtral are written as
/// `llama`; Phi-2 as `phi2`). `None` for a type llama.cpp's converter does not take.
pub(crate) fn llama_cpp_architecture(model_type: &str) -> Option<&'static str> {
    Some(match model_type {
        "llama" | "mistral" | "mixtral" => "llama",
        "qwen2" => "qwen2",
        "qwen2_moe" => "qwen2moe",
        "qwen3" => "qwen3",
        "qwen3_moe" => "qwen3moe",
        "phi3" => "phi3",
        "phi" => "phi2",
        "gemma" => "gemma",
        "gemma2" => "gemma2",
        "gemma3" | "gemma3_text" => "gemma3",
        "gpt2" => "gpt2",
        "stablelm" => "stablelm",
        "starcoder2" => "starcoder2",
        "falcon" => "falcon",
        "olmo" => "olmo",
        "olmo2" => "olmo2",
        "granite" => "granite",
        "smollm3" => "smollm3",
        "gpt_neox" => "gptneox",
        "bloom" => "bloom",
        "internlm2" => "internlm2",
        "deepseek_v2" => "deepseek2",
        _ => return None,
    })
}

/// llama.cpp's name of an HF `rope_type`: `default` is no scaling, `su` is `longrope`.
pub(crate) fn rope_scaling(rope_type: &str) -> &str {
    match rope_type {
        "default" => "none",
        "su" => "longrope",
        other => other,
    }
}

/// A vocabulary entry as HF's tokenizer spells it, in the spelling of a GGUF: SentencePiece
/// marks a space with `▁` in both, but HF's conversion of a GGUF vocabulary can write the
/// marker where the file wrote a space (or the other way round), which is the same token.
pub(crate) fn same_token_text(hf: &str, file: &str) -> bool {
    hf == file || hf.replace('▁', " ") == file.replace('▁', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_has_llama_cpps_name() {
        assert_eq!(llama_cpp_architecture("mistral"), Some("llama"));
        assert_eq!(llama_cpp_architecture("gemma3_text"), Some("gemma3"));
        assert_eq!(llama_cpp_architecture("qwen3"), Some("qwen3"));
        assert_eq!(llama_cpp_architecture("phi"), Some("phi2"));
        assert_eq!(llama_cpp_architecture("not-a-model"), None);
    }

    #[test]
    fn a_space_and_its_marker_are_the_same_token() {
        assert!(same_token_text("▁▁", "  "));
        assert!(same_token_text("▁the", "▁the"));
        assert!(!same_token_text("▁the", "the"));
    }
}
