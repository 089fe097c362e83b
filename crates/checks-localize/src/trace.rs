//! One `apr trace --save-tensor all` of a `.apr` and the stage files it wrote.

use apr_client::stage_dump::{self, StageDumpError};
use apr_client::{AprError, Invocation, headline, parse};
use std::path::{Path, PathBuf};
use tmgt_check::{CheckError, Context};

/// A finished trace: the ids apr traced and the folder of its stage files.
pub struct Trace {
    pub ids: Vec<u32>,
    pub dir: PathBuf,
}

/// What became of asking apr for a trace.
pub enum Traced {
    Done(Trace),
    /// apr refused or failed to trace the file; its own words.
    Refused(String),
}

/// Traces every layer of `model` into a fresh folder of the instance's scratch.
pub fn trace(cx: &dyn Context, model: &Path, layers: usize) -> Result<Traced, CheckError> {
    let dir = cx.scratch_dir()?.join("trace");
    let layers = u32::try_from(layers).map_err(|_| CheckError::Input {
        what: "model facts".into(),
        reason: format!("{layers} layers"),
    })?;
    let invocation = Invocation::trace_stages(model, &dir, layers)?;
    let captured = cx.apr(&invocation)?;
    match parse::trace_stages(&captured) {
        Ok(reply) => Ok(Traced::Done(Trace {
            ids: reply.value.token_ids,
            dir,
        })),
        Err(AprError::Exit {
            code,
            meaning,
            stderr_tail,
        }) => Ok(Traced::Refused(format!(
            "exit {code} ({meaning}): {}",
            headline(&stderr_tail)
        ))),
        Err(other) => Err(other.into()),
    }
}

impl Trace {
    /// apr's values of one stage, or `None` when apr wrote no such file.
    pub fn stage(&self, layer: Option<u32>, stage: &str) -> Result<Option<Vec<f32>>, CheckError> {
        let path = stage_dump::path(&self.dir, layer, stage);
        if !path.is_file() {
            return Ok(None);
        }
        let dump = stage_dump::read(&path).map_err(|e: StageDumpError| CheckError::Input {
            what: "apr trace stage".into(),
            reason: e.to_string(),
        })?;
        if dump.layer != layer {
            return Err(CheckError::Input {
                what: "apr trace stage".into(),
                reason: format!(
                    "{} says layer {:?} in its header",
                    path.display(),
                    dump.layer
                ),
            });
        }
        Ok(Some(dump.values))
    }
}
