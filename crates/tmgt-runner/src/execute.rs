//! Runs the matrix on a bounded pool of worker threads. Each instance gets a context that
//! reaches apr through the shared engine; results land in matrix order whatever order they
//! finish in.

use crate::artifacts::Artifacts;
use crate::config::Config;
use crate::engine::{Engine, UsedCall};
use crate::matrix::Instance;
use crate::oracles::Oracles;
use crate::report::{Outcome, record};
use crate::scratch::Scratch;
use apr_client::{Captured, Invocation, VersionInfo};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;
use tmgt_check::{
    ArtifactKind, CheckError, Context, ErrorClass, ModelUnderTest, Prompt, Quant, Status,
    Thresholds, Verdict,
};
use tmgt_oracle::{Oracle, PerplexityOracle};
use tmgt_report::ResultRecord;

/// What every instance of a run shares.
#[derive(Debug)]
pub struct RunState {
    pub config: Config,
    pub engine: Engine,
    pub artifacts: Artifacts,
    pub scratch: Scratch,
    pub oracles: Oracles,
    eval_text: OnceLock<Result<Arc<str>, String>>,
}

impl RunState {
    pub fn new(
        config: Config,
        engine: Engine,
        artifacts: Artifacts,
        scratch: Scratch,
        oracles: Oracles,
    ) -> RunState {
        RunState {
            config,
            engine,
            artifacts,
            scratch,
            oracles,
            eval_text: OnceLock::new(),
        }
    }

    fn eval_text(&self) -> Result<Arc<str>, String> {
        self.eval_text
            .get_or_init(|| {
                std::fs::read_to_string(&self.config.eval_text)
                    .map(Arc::from)
                    .map_err(|e| format!("cannot read {}: {e}", self.config.eval_text.display()))
            })
            .clone()
    }
}

/// The context one instance runs in.
struct InstanceContext<'a> {
    state: &'a RunState,
    instance: &'a Instance,
    index: usize,
    used: Mutex<Vec<UsedCall>>,
}

impl Context for InstanceContext<'_> {
    fn models(&self) -> &[ModelUnderTest] {
        &self.state.config.models
    }

    fn model(&self) -> Result<&ModelUnderTest, CheckError> {
        self.instance
            .model
            .map(|m| &self.state.config.models[m])
            .ok_or(CheckError::Scope("model"))
    }

    fn quant(&self) -> Result<Quant, CheckError> {
        self.instance
            .quant
            .ok_or(CheckError::Scope("quantization level"))
    }

    fn prompt(&self) -> Result<&Prompt, CheckError> {
        self.instance
            .prompt
            .map(|p| &self.state.config.prompts[p])
            .ok_or(CheckError::Scope("prompt"))
    }

    fn prompts(&self) -> &[Prompt] {
        &self.state.config.prompts
    }

    fn thresholds(&self) -> &Thresholds {
        match self.instance.model {
            Some(m) => &self.state.config.model_thresholds[m],
            None => &self.state.config.thresholds,
        }
    }

    fn max_new_tokens(&self) -> u32 {
        self.state.config.max_new_tokens
    }

    fn apr_version(&self) -> &VersionInfo {
        self.state.engine.apr().version()
    }

    fn artifact(&self, kind: ArtifactKind) -> Result<PathBuf, CheckError> {
        let model = self.model()?;
        if let ArtifactKind::Native(level) = kind {
            let prepared =
                self.state
                    .artifacts
                    .native(&self.state.config.native_dir, model, level)?;
            return Ok(prepared.path);
        }
        let used = |id, reused, blocked| {
            self.used
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(UsedCall {
                    id,
                    reused,
                    blocked,
                });
        };
        match self.state.artifacts.get(&self.state.engine, model, kind) {
            Ok((prepared, made_here)) => {
                if let Some(id) = prepared.call {
                    used(id, !made_here, false);
                }
                Ok(prepared.path)
            }
            Err(e) => {
                if let CheckError::ArtifactUnavailable { call: Some(id), .. } = &e {
                    used(*id, true, true);
                }
                Err(e)
            }
        }
    }

    fn oracle(&self) -> Result<Arc<Oracle>, CheckError> {
        let prompt = self.instance.prompt.ok_or(CheckError::Scope("prompt"))?;
        self.prompt_oracle(prompt)
    }

    fn prompt_oracle(&self, index: usize) -> Result<Arc<Oracle>, CheckError> {
        let model = self.instance.model.ok_or(CheckError::Scope("model"))?;
        let state = self.state;
        state
            .oracles
            .prompt(&state.config, model, index)
            .map_err(|reason| CheckError::Input {
                what: "oracle".into(),
                reason,
            })
    }

    fn perplexity_oracle(&self) -> Result<Arc<PerplexityOracle>, CheckError> {
        let model = self.instance.model.ok_or(CheckError::Scope("model"))?;
        let state = self.state;
        state
            .oracles
            .perplexity(&state.config, model)
            .map_err(|reason| CheckError::Input {
                what: "perplexity oracle".into(),
                reason,
            })
    }

    fn eval_text(&self) -> Result<Arc<str>, CheckError> {
        self.state.eval_text().map_err(|reason| CheckError::Input {
            what: "evaluation text".into(),
            reason,
        })
    }

    fn apr(&self, invocation: &Invocation) -> Result<Arc<Captured>, CheckError> {
        let (captured, used) = self.state.engine.call(invocation)?;
        self.used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(used);
        Ok(captured)
    }

    fn keep_scratch(&self) -> bool {
        self.state.scratch.keep()
    }

    fn scratch_dir(&self) -> Result<PathBuf, CheckError> {
        self.state
            .scratch
            .dir(self.index)
            .map_err(|e| CheckError::Input {
                what: format!(
                    "a scratch folder in {}",
                    self.state.scratch.root().display()
                ),
                reason: e.to_string(),
            })
    }
}

/// What an instance came to: a result, or nothing to judge because it asks for what its
/// model's entry does not have.
#[derive(Debug)]
pub enum Finished {
    Result(Box<ResultRecord>),
    OutsideEntry(tmgt_report::OutsideEntry),
}

/// Runs one instance, turning a pass that compared nothing into an error. The flag says the
/// run's interruption stopped it, so its record is not a result.
fn run_instance(state: &RunState, instance: &Instance, index: usize) -> (Finished, bool) {
    let cx = InstanceContext {
        state,
        instance,
        index,
        used: Mutex::default(),
    };
    let started = Instant::now();
    // A check that panics loses its own result only: the run and its report go on.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        instance.check.check.run(&cx)
    }));
    let duration = started.elapsed();
    let result = result.unwrap_or_else(|payload| Err(panicked(payload.as_ref())));
    if let Err(CheckError::OutsideEntry(reason)) = result {
        let outside = tmgt_report::OutsideEntry {
            id: instance.id(&state.config),
            reason,
        };
        return (Finished::OutsideEntry(outside), false);
    }
    let outcome = match result {
        Ok(v) if v.status == Status::Pass && v.evidence.count == 0 => Outcome::Error {
            class: ErrorClass::NoEvidence,
            message: format!(
                "passed without comparing anything ({}): a check that compared nothing proves nothing",
                v.message
            ),
            blocked_by: None,
        },
        Ok(v) => Outcome::Verdict(v),
        Err(CheckError::NotApplicable(reason)) => Outcome::Verdict(Verdict::skip(reason)),
        Err(e) => Outcome::Error {
            class: e.class(),
            message: e.to_string(),
            blocked_by: match &e {
                CheckError::ArtifactUnavailable { artifact, .. } => Some(artifact.clone()),
                CheckError::Serve(s) => s.never_served().map(|file| {
                    format!(
                        "{}{}",
                        tmgt_report::group::SERVER_PREFIX,
                        folder_and_name(file)
                    )
                }),
                _ => None,
            },
        },
    };
    let used = cx.used.into_inner().unwrap_or_else(PoisonError::into_inner);
    let outcome = match outcome {
        Outcome::Error {
            class: ErrorClass::Timeout,
            message,
            blocked_by,
        } => Outcome::Error {
            class: ErrorClass::Timeout,
            message: with_limit(state, &used, message),
            blocked_by,
        },
        Outcome::Error {
            class: ErrorClass::Exit,
            message,
            blocked_by: None,
        } => Outcome::Error {
            class: ErrorClass::Exit,
            blocked_by: refusal(state, &used, &message),
            message,
        },
        other => other,
    };
    let interrupted = matches!(
        outcome,
        Outcome::Error {
            class: ErrorClass::Interrupted,
            ..
        }
    );
    (
        Finished::Result(Box::new(record(state, instance, outcome, duration, used))),
        interrupted,
    )
}

/// The cause a result's apr failure shares with every result that needed the same model file:
/// `apr refuses <folder>/<file>: <the first line of the failure>`, from the last call of the
/// result that exited non-zero and the model file it read.
fn refusal(state: &RunState, used: &[UsedCall], message: &str) -> Option<String> {
    let record = used
        .iter()
        .rev()
        .filter_map(|u| state.engine.record(u.id))
        .find(|r| r.exit_code.is_some_and(|c| c != 0))?;
    let file = record.inputs.iter().map(|i| Path::new(&i.path)).find(|p| {
        p.extension()
            .is_some_and(|e| e == "gguf" || e == "apr" || e == "safetensors")
    })?;
    let cause = message.lines().next()?;
    Some(format!(
        "{}{}: {cause}",
        tmgt_report::group::REFUSAL_PREFIX,
        folder_and_name(file)
    ))
}

/// A file as a blocker names it, with its folder: `native/<model>/f32.gguf` is
/// `<model>/f32.gguf`.
fn folder_and_name(file: &Path) -> String {
    let tail: Vec<_> = file.iter().rev().take(2).collect();
    let name: Vec<_> = tail.iter().rev().map(|p| p.to_string_lossy()).collect();
    name.join("/")
}

/// A panic's message, from its payload.
fn panicked(payload: &(dyn std::any::Any + Send)) -> CheckError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    CheckError::Panicked(message)
}

/// A timeout's message with the limit that applied and the key that raises it.
fn with_limit(state: &RunState, used: &[UsedCall], message: String) -> String {
    let Some(limit) = used.iter().find_map(|u| state.engine.timeout_of(u.id)) else {
        return message;
    };
    format!(
        "{message} (limit: {}; raise [timeouts].{} in {})",
        limit.why,
        limit.key,
        state.config.file.display()
    )
}

/// Runs every instance on `jobs` threads, starting them in `order` (indices into
/// `instances`); `on_finished` sees each as it finishes. They come back in matrix order.
pub fn run_all(
    state: &RunState,
    instances: &[Instance],
    order: &[usize],
    jobs: usize,
    on_finished: &(dyn Fn(usize, &Finished) + Sync),
) -> Vec<Option<Finished>> {
    let slots: Vec<Mutex<Option<Finished>>> = instances.iter().map(|_| Mutex::new(None)).collect();
    crate::pool::for_each(order, jobs, |i| {
        if state.engine.interrupted() {
            return false;
        }
        let (finished, interrupted) = run_instance(state, &instances[i], i);
        state.scratch.release(i);
        crate::heap::trim();
        if interrupted && state.engine.interrupted() {
            return false;
        }
        on_finished(i, &finished);
        *slots[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(finished);
        true
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().unwrap_or_else(PoisonError::into_inner))
        .collect()
}
