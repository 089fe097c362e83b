//! The shared body of the suite's checks: one file of the instance's model, judged.

use crate::file::ConvertedFile;
use crate::judge::{JudgeError, judge_file};
use crate::map::Arch;
use checks_structure::source::{NO_LOCAL_SOURCE, source_model};
use tmgt_check::{ArtifactKind, CheckError, Context, Details, Evidence, Verdict, WeightsJudgement};

/// Judges the instance model's `kind` file; `what` names it in the message.
pub(crate) fn judge_artifact(
    cx: &dyn Context,
    kind: ArtifactKind,
    what: &str,
) -> Result<Verdict, CheckError> {
    let Some(source) = source_model(cx)? else {
        return Ok(Verdict::skip(NO_LOCAL_SOURCE));
    };
    let facts = &cx.model()?.facts;
    let arch = Arch::of(facts);
    let path = cx.artifact(kind)?;
    let file = ConvertedFile::open(&path).map_err(|e| CheckError::file(&path, e))?;
    let judgement = judge_file(&source, &arch, &file).map_err(|e| match e {
        JudgeError::Map(reason) => CheckError::Input {
            what: format!("the tensors of {}", source.path().display()),
            reason,
        },
        other => CheckError::file(&path, other),
    })?;
    if judgement.faithful() && !judgement.unjudged.is_empty() {
        return Err(CheckError::NoEvidence(format!(
            "{what}: {}",
            judgement.summary()
        )));
    }
    if judgement.tensors_compared == 0 && judgement.faithful() {
        return Err(CheckError::NoEvidence(format!(
            "{what}: the source maps to no tensor of the file"
        )));
    }
    let evidence = Evidence::new(judgement.tensors_compared, "tensors");
    let summary = judgement.summary();
    Ok(
        Verdict::judge(judgement.faithful(), evidence, format!("{what}: {summary}")).with_details(
            Details::Weights(Box::new(WeightsJudgement {
                file: path.display().to_string(),
                faithful: judgement.faithful(),
                summary,
                tensors: serde_json::to_value(&judgement).unwrap_or_default(),
            })),
        ),
    )
}
