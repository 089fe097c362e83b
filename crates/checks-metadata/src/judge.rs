//! One family of fields judged over every file a model entry produces or is given.

use crate::field::{Family, Field};
use crate::file::{FileMeta, Format, Found};
use crate::source::{Expected, Source};
use crate::value::MetaValue;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tmgt_check::{ArtifactKind, CheckError, Context, Evidence, NativeGguf, Quant, Verdict};

/// Held by each metadata and tokenizer check while it runs: one holds the source's tokenizer
/// and every file's token and merge lists (about 55 MB for a 49,152-token vocabulary), so two
/// at once would double tmgt's own memory for no gain (each takes about a second).
pub(crate) fn one_at_a_time() -> MutexGuard<'static, ()> {
    static VOCABULARIES: Mutex<()> = Mutex::new(());
    VOCABULARIES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The files of the instance's model whose metadata is judged: its f32 `.apr`, apr's GGUF of
/// it (or the GGUF it is given), and llama.cpp's own conversion where there is one; with the
/// reason for each that could not be had.
pub(crate) fn model_files(cx: &dyn Context) -> Result<(Vec<PathBuf>, Vec<String>), CheckError> {
    let model = cx.model()?;
    let apr_level = if model.quants.contains(&Quant::F32) {
        Quant::F32
    } else {
        model.quants.first().copied().unwrap_or(Quant::F32)
    };
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for kind in [
        ArtifactKind::Apr(apr_level),
        ArtifactKind::Gguf,
        ArtifactKind::Native(NativeGguf::F32),
    ] {
        match cx.artifact(kind) {
            Ok(path) => files.push(path),
            Err(e) if e.is_inapplicable() => {}
            Err(CheckError::ArtifactUnavailable { reason, .. }) => {
                missing.push(format!("no {kind}: {reason}"));
            }
            Err(e) => return Err(e),
        }
    }
    Ok((files, missing))
}

/// The source of the instance's model, read with llama.cpp's conversion of it if it has one.
pub(crate) fn source_of(cx: &dyn Context) -> Result<Option<Source>, CheckError> {
    let model = cx.model()?;
    let Some(dir) = model.local_dir() else {
        return Ok(None);
    };
    let native = match cx.artifact(ArtifactKind::Native(NativeGguf::F32)) {
        Ok(path) => Some(path),
        Err(e) if e.is_inapplicable() || matches!(e, CheckError::ArtifactUnavailable { .. }) => {
            None
        }
        Err(e) => return Err(e),
    };
    Source::read(dir, native.as_deref())
        .map(Some)
        .map_err(|e| CheckError::Input {
            what: format!("the source of {}", model.name),
            reason: e.to_string(),
        })
}

/// One field of one file, judged.
#[derive(Debug, serde::Serialize)]
struct Judged {
    file: String,
    key: String,
    /// `agrees`, `differs` or `skipped`.
    verdict: &'static str,
    said: String,
}

/// Judges `family` on every file of the instance's model against its source.
pub(crate) fn judge_family(cx: &dyn Context, family: Family) -> Result<Verdict, CheckError> {
    let _one = one_at_a_time();
    let Some(source) = source_of(cx)? else {
        return Err(CheckError::NotApplicable(
            "the model comes from the hub; tmgt reads the HF files of local models only".into(),
        ));
    };
    let (files, missing) = model_files(cx)?;
    let mut judged = Vec::new();
    let mut compared = 0usize;
    // What the source says depends on the format only: built once, not once per file (the
    // token lists are the vocabulary's size).
    let mut expected: Vec<(Field, Format, Expected)> = Vec::new();
    for path in &files {
        let meta = FileMeta::open(path).map_err(|e| CheckError::file(path, e))?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        for field in Field::ALL.into_iter().filter(|f| f.family() == family) {
            let at = match expected
                .iter()
                .position(|(f, format, _)| *f == field && *format == meta.format)
            {
                Some(at) => at,
                None => {
                    expected.push((field, meta.format, source.expected(field, meta.format)));
                    expected.len() - 1
                }
            };
            let found = meta.found(field)?;
            let (verdict, key, said, items) = judge_field(&expected[at].2, &found);
            compared += items;
            judged.push(Judged {
                file: name.clone(),
                key,
                verdict,
                said,
            });
        }
    }
    let differing: Vec<String> = judged
        .iter()
        .filter(|j| j.verdict == "differs")
        .map(|j| format!("{}: {}", j.file, j.said))
        .collect();
    let agreeing = judged.iter().filter(|j| j.verdict == "agrees").count();
    let skipped = judged.iter().filter(|j| j.verdict == "skipped").count();
    if agreeing + differing.len() == 0 {
        return Err(CheckError::NotApplicable(format!(
            "no file of {} carries a field of this family that its source states{}",
            cx.model()?.name,
            if missing.is_empty() {
                String::new()
            } else {
                format!(" ({})", missing.join("; "))
            }
        )));
    }
    let mut message = if differing.is_empty() {
        format!(
            "{agreeing} fields over {} files agree with the source ({compared} values compared)",
            files.len()
        )
    } else {
        format!(
            "{} of {} fields differ: {}",
            differing.len(),
            agreeing + differing.len(),
            differing.join("; ")
        )
    };
    if skipped > 0 {
        message.push_str(&format!("; {skipped} not carried or not applicable"));
    }
    if !missing.is_empty() {
        message.push_str(&format!("; {}", missing.join("; ")));
    }
    Ok(Verdict::judge(
        differing.is_empty(),
        Evidence::new(compared, "values"),
        message,
    )
    .with_facts(serde_json::json!({ "files": files, "fields": judged, "missing": missing })))
}

/// (verdict, the file's key, what was found, values compared).
pub(crate) fn judge_field(
    expected: &Expected,
    found: &Found,
) -> (&'static str, String, String, usize) {
    let (value, from) = match expected {
        Expected::Is { value, from } => (value, from),
        Expected::NotApplicable(why) => {
            let key = match found {
                Found::Value { key, .. } | Found::Absent { key, .. } => key.clone(),
                Found::CannotCarry(_) => String::new(),
            };
            return ("skipped", key, format!("not judged: {why}"), 0);
        }
    };
    match found {
        Found::CannotCarry(why) => ("skipped", String::new(), (*why).to_string(), 0),
        Found::Value { value: got, key } => match got.differs_from(value) {
            None => (
                "agrees",
                key.clone(),
                format!("{key} = {got}"),
                value.items(),
            ),
            Some(diff) => (
                "differs",
                key.clone(),
                format!("{key}: {diff} ({from})"),
                value.items(),
            ),
        },
        Found::Absent {
            key,
            assumed: Some((assumed, who)),
        } => match assumed.differs_from(value) {
            None => (
                "agrees",
                key.clone(),
                format!("{key} absent ({who}): {assumed}, as the source says"),
                value.items(),
            ),
            Some(diff) => (
                "differs",
                key.clone(),
                format!("{key} absent ({who}): {diff} ({from})"),
                value.items(),
            ),
        },
        Found::Absent { key, assumed: None } if *value == MetaValue::Unset => (
            "agrees",
            key.clone(),
            format!("{key} absent, as the source has none"),
            1,
        ),
        Found::Absent { key, assumed: None } => (
            "differs",
            key.clone(),
            format!("{key} absent where {from} gives {value}"),
            value.items(),
        ),
    }
}
