use crate::{CheckError, Context, Verdict};
use serde::Serialize;

/// A falsifiable statement about apr, run once per instance of its [`Scope`].
pub trait Check: Send + Sync + 'static {
    /// `Ok(Verdict)` when the check ran (pass, fail or skip); `Err` when it could not.
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError>;
}

/// What a check declares about itself.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckMeta {
    /// Stable code, prefixed by the suite's code prefix (`TOK003`).
    pub code: &'static str,
    /// Kebab-case name after the defect it detects.
    pub name: &'static str,
    /// The suite it belongs to, as named in `suites.toml`.
    pub suite: &'static str,
    /// The crate that declares it, so a listing shows which suite crates a build linked.
    #[serde(rename = "crate")]
    pub krate: &'static str,
    pub scope: Scope,
    /// One line.
    pub summary: &'static str,
    /// The doc comment: what it checks and why it matters.
    pub docs: &'static str,
    /// What one instance costs, in apr calls that load the model and decode a prompt (an
    /// `eval` of the evaluation text is several): the scheduler starts the costliest first
    /// when no earlier report gives durations.
    pub cost: u32,
}

/// The axes a check is instantiated over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Once per run.
    Global,
    /// Once per model.
    Model,
    /// Per model and prompt.
    ModelPrompt,
    /// Per model and quantization level.
    ModelQuant,
    /// Per model, quantization level and prompt.
    ModelQuantPrompt,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Model => "model",
            Scope::ModelPrompt => "model x prompt",
            Scope::ModelQuant => "model x quant",
            Scope::ModelQuantPrompt => "model x quant x prompt",
        }
    }

    pub fn has_model(self) -> bool {
        self != Scope::Global
    }

    pub fn has_quant(self) -> bool {
        matches!(self, Scope::ModelQuant | Scope::ModelQuantPrompt)
    }

    pub fn has_prompt(self) -> bool {
        matches!(self, Scope::ModelPrompt | Scope::ModelQuantPrompt)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
