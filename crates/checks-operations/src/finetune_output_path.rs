use crate::lora::train;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr finetune -o DIR` writes its adapter where `-o` says: a training run's output is
    /// the one thing a user asks for, and one written elsewhere (into whatever folder apr was
    /// started from) is lost or overwrites another run's.
    pub FinetuneOutputPath {
        code: "FTN004",
        name: "finetune-ignores-output-path",
        suite: "finetune",
        scope: Scope::Model,
        summary: "apr finetune writes its LoRA adapter at the -o path",
    }
}

impl Check for FinetuneOutputPath {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let trained = match train(cx, 0.0)? {
            Ok(t) => t,
            Err(refused) => return Ok(refused),
        };
        let message = match &trained.adapter {
            None => trained.nothing_written(),
            Some(found) if trained.at_asked_path() => {
                format!("the adapter is at {}, as -o asked", found.display())
            }
            Some(found) => format!(
                "-o {} holds nothing; the adapter went to {}, under the folder apr was started in",
                trained.asked.display(),
                found.display()
            ),
        };
        Ok(Verdict::judge(
            trained.at_asked_path(),
            Evidence::new(1, "files"),
            message,
        ))
    }
}
