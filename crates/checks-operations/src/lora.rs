//! A LoRA training run of `apr finetune` in a folder of the instance's scratch, and where its
//! adapter went: apr 0.72.3 writes `checkpoints/` into its working directory whatever `-o`
//! says, so the run gets a folder of its own and tmgt looks in both places.

use crate::common::{f32_apr, operate, scratch};
use apr_client::{Invocation, LoraTraining, parse};
use std::path::{Path, PathBuf};
use tmgt_check::{CheckError, Context, Verdict};

/// The LoRA rank asked for.
pub(crate) const RANK: u32 = 4;

/// Two instruction/response pairs: apr's instruct pipeline keeps one for training and one for
/// validation.
const DATA: &str = "{\"instruction\":\"Say hi\",\"response\":\"hi there\"}\n\
                    {\"instruction\":\"Count\",\"response\":\"1 2 3\"}\n";

/// A finished training run.
pub(crate) struct Trained {
    /// The folder apr ran in.
    pub workdir: PathBuf,
    /// What `-o` asked for.
    pub asked: PathBuf,
    /// The adapter file apr wrote, where tmgt found one.
    pub adapter: Option<PathBuf>,
}

impl Trained {
    /// Whether the adapter is where `-o` asked.
    pub fn at_asked_path(&self) -> bool {
        self.adapter
            .as_deref()
            .is_some_and(|a| a.starts_with(&self.asked))
    }

    /// "apr finetune wrote no adapter" with where tmgt looked, for a failing verdict.
    pub fn nothing_written(&self) -> String {
        format!(
            "apr finetune reported a finished training but wrote no adapter at {} or under {}",
            self.asked.display(),
            self.workdir.join("checkpoints").display()
        )
    }
}

/// Trains a rank-[`RANK`] LoRA adapter for one epoch at `learning_rate` on the model's f32
/// `.apr`; apr refusing is the check's failure.
pub(crate) fn train(
    cx: &dyn Context,
    learning_rate: f64,
) -> Result<Result<Trained, Verdict>, CheckError> {
    let model = f32_apr(cx)?;
    let data = scratch(cx, "finetune.jsonl")?;
    let workdir = scratch(cx, "finetune")?;
    let io = |path: &Path| {
        let what = path.display().to_string();
        move |e: std::io::Error| CheckError::Input {
            what,
            reason: e.to_string(),
        }
    };
    std::fs::write(&data, DATA).map_err(io(&data))?;
    std::fs::create_dir_all(&workdir).map_err(io(&workdir))?;
    let training = LoraTraining {
        rank: RANK,
        epochs: 1,
        learning_rate,
    };
    let asked = workdir.join("adapter");
    let invocation = Invocation::finetune_lora(&model, &data, training, &asked, &workdir)?;
    if let Err(refused) = operate(cx, &invocation, parse::finetune)? {
        return Ok(Err(refused));
    }
    let adapter = [
        asked.clone(),
        asked.join("model.safetensors"),
        asked.join("adapter_model.safetensors"),
        workdir.join("checkpoints/best/model.safetensors"),
    ]
    .into_iter()
    .find(|p| p.is_file());
    Ok(Ok(Trained {
        workdir,
        asked,
        adapter,
    }))
}
