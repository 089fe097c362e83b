use crate::common::{f32_apr, layout_of, operate, read_output, scratch};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr distill TEACHER --student S` writes a model of the student's shape: every tensor
    /// of the student under its name with its dtype and byte size, none added, and the counts
    /// and sizes it reports (executed and in `--plan`) are the files' own. The model distils
    /// into a copy of itself for one epoch on one example (the relation is about shapes).
    pub DistillStudent {
        code: "DST001",
        name: "distill-student-shape-changes",
        suite: "distill",
        scope: Scope::Model,
        summary: "apr distill writes the student's tensors and reports the files as they are",
        // The plan and one epoch of training.
        cost: 2,
    }
}

impl Check for DistillStudent {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = f32_apr(cx)?;
        let data = scratch(cx, "distill.jsonl")?;
        std::fs::write(&data, "{\"instruction\":\"Say hi\",\"output\":\"hi\"}\n").map_err(|e| {
            CheckError::Input {
                what: data.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        let plan = match operate(
            cx,
            &Invocation::distill(&model, &model, &data, 1, None)?,
            parse::distill_plan,
        )? {
            Ok(p) => p,
            Err(refused) => return Ok(refused),
        };
        let out = scratch(cx, "distilled.apr")?;
        let done = match operate(
            cx,
            &Invocation::distill(&model, &model, &data, 1, Some(&out))?,
            parse::distill,
        )? {
            Ok(d) => d,
            Err(refused) => return Ok(refused),
        };
        let student = layout_of(&model)?;
        let written = match read_output("distill", &out) {
            Ok(l) => l,
            Err(verdict) => return Ok(verdict),
        };
        let bytes = std::fs::metadata(&model).map(|m| m.len()).unwrap_or(0);
        let mut problems = Vec::new();
        for t in &student.tensors {
            match written.tensors.iter().find(|w| w.name == t.name) {
                None => problems.push(format!("`{}` is missing", t.name)),
                Some(w)
                    if w.dtype != t.dtype
                        || w.bytes.end - w.bytes.start != t.bytes.end - t.bytes.start =>
                {
                    problems.push(format!(
                        "`{}` is {} of {} bytes, the student's {} of {}",
                        t.name,
                        w.dtype,
                        w.bytes.end - w.bytes.start,
                        t.dtype,
                        t.bytes.end - t.bytes.start
                    ));
                }
                Some(_) => {}
            }
        }
        let added = written.tensors.len().saturating_sub(student.tensors.len());
        if added > 0 {
            problems.push(format!("{added} tensors the student does not have"));
        }
        if done.student_tensors != student.tensors.len() as u64 {
            problems.push(format!(
                "student_tensors {} for {} tensors",
                done.student_tensors,
                student.tensors.len()
            ));
        }
        for (what, reported) in [
            ("executed", done.student_size),
            ("planned", plan.student_size),
        ] {
            if reported != bytes {
                problems.push(format!(
                    "the {what} student_size {reported} is not the student file's {bytes} bytes"
                ));
            }
        }
        let message = if problems.is_empty() {
            format!(
                "{} tensors of the student's names, dtypes and sizes; sizes as the files are",
                written.tensors.len()
            )
        } else {
            problems.join("; ")
        };
        Ok(Verdict::judge(
            problems.is_empty(),
            Evidence::new(student.tensors.len() + 3, "tensors and figures"),
            message,
        )
        .with_facts(serde_json::json!({ "output": out })))
    }
}
