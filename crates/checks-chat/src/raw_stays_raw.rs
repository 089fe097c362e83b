use apr_client::{RunRequest, parse};
use std::path::Path;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, NativeGguf, Scope, Verdict, declare_check,
};

declare_check! {
    /// A raw prompt stays raw wherever the file lies: `apr run` (no `--chat`) of llama.cpp's
    /// GGUF reached through a symlink in a folder named `chat`, and through a symlink named
    /// `*-Instruct.gguf`, feeds the ids it feeds from the file's own path. A path that merely
    /// contains "chat" or "instruct" must not wrap the prompt in a template.
    pub RawStaysRaw {
        code: "CHT003",
        name: "raw-prompt-templated-by-path",
        suite: "chat",
        scope: Scope::ModelPrompt,
        summary: "a raw prompt is fed the same through a path naming chat or instruct",
        cost: 2,
    }
}

/// The prompt ids `apr run` feeds for `prompt` from `model`.
fn fed_ids(cx: &dyn Context, model: &Path, prompt: &str) -> Result<Vec<u32>, CheckError> {
    let invocation = RunRequest::new(model, prompt)
        .max_tokens(1)
        .logprobs(Some(1))
        .build()?;
    let reply = parse::run(&*cx.apr(&invocation)?)?;
    reply
        .value
        .logprobs
        .map(|l| l.prompt_token_ids)
        .ok_or_else(|| CheckError::Schema {
            command: "run --logprobs".into(),
            detail: format!("no `logprobs.prompt_token_ids` for {}", model.display()),
        })
}

impl Check for RawStaysRaw {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let prompt = &cx.prompt()?.text;
        let native = cx.artifact(ArtifactKind::Native(NativeGguf::F32))?;
        let scratch = cx.scratch_dir()?;
        let folder = scratch.join("chat");
        std::fs::create_dir_all(&folder).map_err(|e| CheckError::file(&folder, e))?;
        let links = [
            folder.join("model.gguf"),
            scratch.join(format!("{}-Instruct.gguf", cx.model()?.name)),
        ];
        for link in &links {
            std::os::unix::fs::symlink(&native, link).map_err(|e| CheckError::file(link, e))?;
        }
        let plain = fed_ids(cx, &native, prompt)?;
        let mut departures = Vec::new();
        for link in &links {
            let ids = fed_ids(cx, link, prompt)?;
            if ids != plain {
                let difference = checks_metadata::first_difference_for_model(cx, &ids, &plain)?
                    .unwrap_or_default();
                departures.push(format!("through {}: {difference}", link.display()));
            }
        }
        let compared = plain.len() * (links.len() + 1);
        Ok(if departures.is_empty() {
            Verdict::pass(
                Evidence::new(compared, "ids"),
                format!(
                    "the raw prompt is fed as the same {} ids through a `chat` folder and an \
                     `-Instruct` name",
                    plain.len()
                ),
            )
        } else {
            Verdict::fail(
                Evidence::new(compared, "ids"),
                format!(
                    "apr templates a raw prompt because of its path ({} ids from the file's own \
                     path): {}",
                    plain.len(),
                    departures.join("; ")
                ),
            )
        })
    }
}
