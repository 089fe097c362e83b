use crate::greedy::judge_greedy_on;
use crate::serving::Session;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr serve of the model's own `model.safetensors` (what a user with an HF folder serves)
    /// reproduces the float32 oracle's greedy tokens: the file is float32, so there is no
    /// quantization to forgive. A server that quantizes it on load answers with another model.
    pub GreedySafetensors {
        code: "SRV007",
        name: "serve-safetensors-greedy-diverges",
        suite: "serve",
        scope: Scope::ModelPrompt,
        summary: "apr serve of the source .safetensors reproduces the oracle's greedy tokens",
    }
}

impl Check for GreedySafetensors {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = cx.model()?;
        if model.rung.is_some() {
            return Err(CheckError::OutsideEntry(format!(
                "{} is a ladder rung: its oracles ran its own file's weights, not the source \
                 .safetensors",
                model.name
            )));
        }
        let Some(dir) = model.local_dir() else {
            return Ok(Verdict::skip(
                "the model comes from the hub: no local .safetensors to serve",
            ));
        };
        let file = dir.join("model.safetensors");
        if !file.is_file() {
            return Ok(Verdict::skip(format!("{} is not one file", file.display())));
        }
        crate::serving::outside_api_fails(judge_greedy_on(
            cx,
            Session::of_file(file)?,
            "apr serve of the source .safetensors",
            0,
        ))
    }
}
