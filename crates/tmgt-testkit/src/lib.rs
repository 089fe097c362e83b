//! A [`Context`] for unit tests of checks, without apr. A suite crate's tests build a
//! [`Replay`] of one bundled model (its HF folder, oracles and prompts from the repository),
//! say how each apr subcommand answers (a capture from apr-client's `tests/captures/`, as it
//! is or edited), run a check on it and assert the verdict. The calls the check asked for are
//! kept for the test to read; a call nobody answered is an error naming it, so a test cannot
//! pass on a reply it did not mean to give.

use apr_client::{Captured, Invocation, Termination, VersionInfo, parse};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use tmgt_check::{
    ArtifactKind, CheckError, Context, ModelFacts, ModelSource, ModelUnderTest, Prompt, Quant,
    Registry, SuiteThresholds, Thresholds, Verdict,
};
use tmgt_oracle::{Oracle, PerplexityOracle};

/// The bundled tiny models of the `default` profile.
pub const DEFAULT_MODELS: [&str; 3] = ["tiny-llama", "tiny-qwen2", "tiny-gpt2"];

/// One bundled tiny model of each further family (the `families` profile).
pub const FAMILY_MODELS: [&str; 6] = [
    "tiny-qwen3",
    "tiny-mistral",
    "tiny-phi3",
    "tiny-gemma",
    "tiny-gemma2",
    "tiny-gemma3",
];

/// Every bundled tiny model, the default profile's first.
pub fn bundled_models() -> impl Iterator<Item = &'static str> {
    DEFAULT_MODELS.into_iter().chain(FAMILY_MODELS)
}

/// The repository checkout the bundled models, oracles and prompts live in.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One captured apr call from `crates/apr-client/tests/captures/<case>/`.
pub fn capture(case: &str) -> Captured {
    let dir = repo_root()
        .join("crates/apr-client/tests/captures")
        .join(case);
    let read = |f: &str| {
        std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("capture {case}/{f} is missing ({e})"))
    };
    let command = String::from_utf8_lossy(&read("command")).trim().to_string();
    let code: i32 = String::from_utf8_lossy(&read("exit_code"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("capture {case}/exit_code: {e}"));
    Captured::from_parts(
        vec![command],
        Termination::Exited(code),
        read("stdout"),
        read("stderr"),
    )
}

/// apr's real `run --json` reply (`run_apr_qwen2`) with its generated tokens replaced.
pub fn run_reply(tokens: &[u32]) -> Captured {
    let captured = capture("run_apr_qwen2");
    let mut json: serde_json::Value = serde_json::from_slice(&captured.stdout)
        .unwrap_or_else(|e| panic!("run_apr_qwen2/stdout is not JSON: {e}"));
    json["tokens"] = serde_json::json!(tokens);
    json["tokens_generated"] = serde_json::json!(tokens.len());
    json["completion_tokens"] = serde_json::json!(tokens.len());
    Captured::from_parts(
        captured.argv,
        Termination::Exited(0),
        serde_json::to_vec(&json).unwrap_or_default(),
        captured.stderr,
    )
}

/// A call that exited `code` with `stderr` and no stdout (101 is a panic).
pub fn exited(code: i32, stderr: &str) -> Captured {
    Captured::from_parts(
        vec!["apr".into()],
        Termination::Exited(code),
        Vec::new(),
        stderr.as_bytes().to_vec(),
    )
}

/// How a subcommand answers: always the same reply, or one made from the call.
enum Answer {
    Fixed(Captured),
    Computed(Box<dyn Fn(&Invocation) -> Captured + Send + Sync>),
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Fixed(c) => f.debug_tuple("Fixed").field(&c.argv).finish(),
            Answer::Computed(_) => f.write_str("Computed"),
        }
    }
}

/// The default thresholds, with every linked suite's own table at its defaults, as the
/// configuration loader fills them in.
fn with_suite_defaults() -> Thresholds {
    let mut thresholds = Thresholds::default();
    for table in SuiteThresholds::all() {
        if let Ok(defaults) = (table.normalize)(serde_json::json!({})) {
            thresholds.suites.insert(table.suite.to_string(), defaults);
        }
    }
    thresholds
}

/// One check instance's world, replayed.
#[derive(Debug)]
pub struct Replay {
    models: Vec<ModelUnderTest>,
    prompts: Vec<Prompt>,
    thresholds: Thresholds,
    quant: Option<Quant>,
    prompt: Option<usize>,
    version: VersionInfo,
    answers: BTreeMap<String, Answer>,
    files: BTreeMap<ArtifactKind, PathBuf>,
    unavailable: BTreeMap<ArtifactKind, String>,
    asked: Mutex<Vec<Invocation>>,
    scratch: tempfile::TempDir,
}

impl Replay {
    /// A model-scope instance of a bundled model (`tiny-llama`, `tiny-qwen2`, `tiny-gpt2`),
    /// with the repository's prompts, default thresholds and the pinned apr's version.
    pub fn bundled(model: &str) -> Replay {
        let root = repo_root();
        let dir = root.join("models").join(model);
        let facts = ModelFacts::from_hf_config(&dir.join("config.json"))
            .unwrap_or_else(|e| panic!("{model} is not a bundled model: {e}"));
        let mut prompts: Vec<Prompt> = std::fs::read_dir(root.join("prompts"))
            .unwrap_or_else(|e| panic!("no prompts folder: {e}"))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "txt") && !p.ends_with("eval-text.txt"))
            .map(|p| Prompt {
                name: p
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                text: std::fs::read_to_string(&p).unwrap_or_default(),
            })
            .collect();
        prompts.sort_by(|a, b| a.name.cmp(&b.name));
        let version = parse::version(&capture("version"))
            .unwrap_or_else(|e| panic!("the version capture does not parse: {e}"))
            .value;
        Replay {
            models: vec![ModelUnderTest {
                name: model.to_string(),
                source: ModelSource::Local { dir },
                facts,
                oracle_dir: root.join("oracle").join(model),
                quants: vec![Quant::F32, Quant::Int8, Quant::Int4],
                ppl_ceiling: 400.0,
                provided: None,
                ops_oracle: None,
                rung: None,
                chat_templates: Vec::new(),
                penalties: Vec::new(),
            }],
            prompts,
            thresholds: with_suite_defaults(),
            quant: None,
            prompt: None,
            version,
            answers: BTreeMap::new(),
            files: BTreeMap::new(),
            unavailable: BTreeMap::new(),
            asked: Mutex::default(),
            scratch: tempfile::tempdir().unwrap_or_else(|e| panic!("no scratch folder: {e}")),
        }
    }

    /// The instance's quantization level.
    #[must_use]
    pub fn quant(mut self, quant: Quant) -> Replay {
        self.quant = Some(quant);
        self
    }

    /// The levels the model is configured with (default f32, int8, int4).
    #[must_use]
    pub fn quants(mut self, quants: &[Quant]) -> Replay {
        self.models[0].quants = quants.to_vec();
        self
    }

    /// Where the model's oracles are read from (default `oracle/<model>/`).
    #[must_use]
    pub fn oracle_dir(mut self, dir: &Path) -> Replay {
        self.models[0].oracle_dir = dir.to_path_buf();
        self
    }

    /// The instance's prompt, by name (`code`, `greeting`, ...).
    #[must_use]
    pub fn prompt(mut self, name: &str) -> Replay {
        let index = self.prompts.iter().position(|p| p.name == name);
        self.prompt = Some(index.unwrap_or_else(|| panic!("no prompt `{name}`")));
        self
    }

    /// Puts a file of `len` bytes (zeros) at the artifact's path, for checks that measure
    /// the file apr was given.
    #[must_use]
    pub fn artifact_of_len(self, kind: ArtifactKind, len: u64) -> Replay {
        let path = self.artifact_path(kind);
        let file = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        file.set_len(len)
            .unwrap_or_else(|e| panic!("cannot size {}: {e}", path.display()));
        self
    }

    /// Serves a real file as the artifact: a committed native GGUF, for checks that read the
    /// file themselves or hand it to llama.cpp.
    #[must_use]
    pub fn artifact_at(mut self, kind: ArtifactKind, path: &Path) -> Replay {
        self.files.insert(kind, path.to_path_buf());
        self
    }

    /// The artifact could not be made (apr refused it), for `reason`.
    #[must_use]
    pub fn unavailable(mut self, kind: ArtifactKind, reason: &str) -> Replay {
        self.unavailable.insert(kind, reason.to_string());
        self
    }

    fn artifact_path(&self, kind: ArtifactKind) -> PathBuf {
        if let Some(path) = self.files.get(&kind) {
            return path.clone();
        }
        let name = format!("{}-{kind}.apr", self.models[0].name);
        self.scratch.path().join(name)
    }

    /// Changes the text of the instance's prompt, leaving its oracle as it is: the runtime
    /// is then asked for another prompt than the oracle answered.
    #[must_use]
    pub fn prompt_text(mut self, text: &str) -> Replay {
        let index = self
            .prompt
            .unwrap_or_else(|| panic!("prompt_text needs .prompt(name) first"));
        self.prompts[index].text = text.to_string();
        self
    }

    /// How every call of `subcommand` (`run`, `inspect`, ...) answers.
    #[must_use]
    pub fn answer(mut self, subcommand: &str, reply: Captured) -> Replay {
        self.answers
            .insert(subcommand.to_string(), Answer::Fixed(reply));
        self
    }

    /// How every call of `subcommand` answers, made from the call (its prompt, its file).
    #[must_use]
    pub fn answer_with(
        mut self,
        subcommand: &str,
        reply: impl Fn(&Invocation) -> Captured + Send + Sync + 'static,
    ) -> Replay {
        self.answers
            .insert(subcommand.to_string(), Answer::Computed(Box::new(reply)));
        self
    }

    /// Runs the registered check with this code (`TOK001`) on this instance, as the runner
    /// would: through the registry, so the test sees what `tmgt run` sees.
    pub fn run(&self, code: &str) -> Result<Verdict, CheckError> {
        let registry = Registry::load().unwrap_or_else(|e| panic!("{e}"));
        let registration = registry
            .by_name(code)
            .unwrap_or_else(|| panic!("no check `{code}` is linked into this test"));
        registration.check.run(self)
    }

    /// The calls the check asked for, in order.
    pub fn asked(&self) -> Vec<Invocation> {
        self.asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Context for Replay {
    fn models(&self) -> &[ModelUnderTest] {
        &self.models
    }

    fn model(&self) -> Result<&ModelUnderTest, CheckError> {
        Ok(&self.models[0])
    }

    fn quant(&self) -> Result<Quant, CheckError> {
        self.quant.ok_or(CheckError::Scope("quant"))
    }

    fn prompt(&self) -> Result<&Prompt, CheckError> {
        self.prompt
            .map(|i| &self.prompts[i])
            .ok_or(CheckError::Scope("prompt"))
    }

    fn prompts(&self) -> &[Prompt] {
        &self.prompts
    }

    fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    fn max_new_tokens(&self) -> u32 {
        32
    }

    fn apr_version(&self) -> &VersionInfo {
        &self.version
    }

    /// A path of its own per artifact: apr's answers are replayed, so no file is there
    /// unless the test put one ([`Replay::artifact_of_len`], [`Replay::artifact_at`]).
    fn artifact(&self, kind: ArtifactKind) -> Result<PathBuf, CheckError> {
        if let Some(reason) = self.unavailable.get(&kind) {
            return Err(CheckError::ArtifactUnavailable {
                artifact: format!("{}/{kind}", self.models[0].name),
                reason: reason.clone(),
                call: None,
            });
        }
        Ok(self.artifact_path(kind))
    }

    fn oracle(&self) -> Result<Arc<Oracle>, CheckError> {
        let prompt = self.prompt.ok_or(CheckError::Scope("prompt"))?;
        self.prompt_oracle(prompt)
    }

    fn prompt_oracle(&self, index: usize) -> Result<Arc<Oracle>, CheckError> {
        let name = &self.prompts[index].name;
        Ok(Arc::new(tmgt_oracle::load(
            &self.models[0].oracle_dir,
            name,
        )?))
    }

    fn perplexity_oracle(&self) -> Result<Arc<PerplexityOracle>, CheckError> {
        Ok(Arc::new(tmgt_oracle::load_perplexity(
            &self.models[0].oracle_dir,
        )?))
    }

    fn eval_text(&self) -> Result<Arc<str>, CheckError> {
        let path = repo_root().join("prompts/eval-text.txt");
        let text = std::fs::read_to_string(&path).map_err(|e| CheckError::file(&path, e))?;
        Ok(text.into())
    }

    fn apr(&self, invocation: &Invocation) -> Result<Arc<Captured>, CheckError> {
        self.asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(invocation.clone());
        let reply = self
            .answers
            .get(invocation.subcommand().as_str())
            .ok_or_else(|| {
                CheckError::Spawn(format!(
                    "the test gave no answer for `{}`",
                    invocation.display()
                ))
            })?;
        Ok(Arc::new(match reply {
            Answer::Fixed(captured) => captured.clone(),
            Answer::Computed(make) => make(invocation),
        }))
    }

    fn scratch_dir(&self) -> Result<PathBuf, CheckError> {
        Ok(self.scratch.path().to_path_buf())
    }

    fn keep_scratch(&self) -> bool {
        false
    }
}
