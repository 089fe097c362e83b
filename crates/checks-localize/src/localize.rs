use crate::LocalizeThresholds;
use crate::layout::{HeadOrder, Shape, apr_column, ordered};
use crate::metrics::{StageError, compare};
use crate::trace::{Trace, Traced, trace};
use checks_inference::judge_f32_apr;
use tmgt_check::outcome::{Details, Localization, StageRow};
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Quant, Scope, Status, Verdict,
    declare_check,
};
use tmgt_oracle::{OracleStage, StageOracle, load_stages};

declare_check! {
    /// Where the f32 `.apr` of a model whose tokens diverge first departs from HF: apr traces
    /// its fixed prompt through every layer (`apr trace --save-tensor all`) and each stage, in
    /// forward order, is held against HF's activations for the same ids. The first stage whose
    /// error is beyond float noise is the fault's place; the stages before it agree. A model
    /// whose tokens all agree is not traced (`[thresholds.localize] trace_passing` traces it).
    pub LocalizeStage {
        code: "LOC001",
        name: "f32-apr-stage-departs",
        suite: "localize",
        scope: Scope::Model,
        summary: "every stage of apr's traced f32 forward pass agrees with HF's within noise",
        // Every prompt's generation (shared with the runtime suite) and one trace.
        cost: 2,
    }
}

/// One compared stage, in forward order.
struct Row<'a> {
    stage: &'a OracleStage,
    error: StageError,
    order: Option<HeadOrder>,
    /// apr's stage had another size than HF's.
    size: Option<usize>,
}

impl Row<'_> {
    fn departs(&self, tolerance: f64) -> bool {
        self.size.is_some() || self.error.departs(tolerance)
    }

    fn place(&self) -> String {
        match self.stage.layer {
            Some(k) => format!("layer {k} `{}`", self.stage.stage),
            None => format!("`{}`", self.stage.stage),
        }
    }

    fn to_row(&self, tolerance: f64) -> StageRow {
        let finite = |x: f64| x.is_finite().then_some(x);
        StageRow {
            key: self.stage.key.clone(),
            layer: self.stage.layer,
            stage: self.stage.stage.clone(),
            rel_l2: finite(self.error.rel_l2),
            max_abs: finite(self.error.max_abs),
            cosine: finite(self.error.cosine),
            norm_rel: finite(self.error.norm_rel),
            worst: finite(self.error.worst()),
            elements: self.error.elements,
            non_finite: self.error.non_finite,
            departs: self.departs(tolerance),
            head_order: self.order.map(|o| o.as_str().to_string()),
            apr_values: self.size,
            hf_values: self.size.map(|_| self.stage.rows() * self.stage.row_len),
        }
    }
}

impl Check for LocalizeStage {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = stage_oracle(cx)?;
        let file = cx.artifact(ArtifactKind::Apr(Quant::F32))?;
        let diverged = diverging_prompts(cx, &file)?;
        let limits: LocalizeThresholds = cx.thresholds().get()?;
        if diverged.is_empty() && !limits.trace_passing {
            return Ok(Verdict::skip(format!(
                "the f32 .apr reproduces the oracle's tokens on all {} prompts: nothing to \
                 localize, not traced",
                cx.prompts().len()
            )));
        }
        localize(cx, &oracle, &file, "the f32 .apr", Some(&diverged))
    }
}

/// The model's stage oracle; without one the check does not apply (a skip that says how to
/// make one).
pub(crate) fn stage_oracle(cx: &dyn Context) -> Result<StageOracle, CheckError> {
    let model = cx.model()?;
    load_stages(&model.oracle_dir)?.ok_or_else(|| {
        CheckError::NotApplicable(format!(
            "{} has no stage oracle ({}); make one with `tmgt oracle --stage-ids IDS` from the \
             ids `apr trace --save-tensor all` prints",
            model.name,
            model.oracle_dir.join(tmgt_oracle::STAGES_FILE).display()
        ))
    })
}

/// Traces `file` (`what`, for the messages) and holds every stage against the oracle's;
/// `diverged` names the prompts whose tokens diverge, where they were judged.
pub(crate) fn localize(
    cx: &dyn Context,
    oracle: &StageOracle,
    file: &std::path::Path,
    what: &str,
    diverged: Option<&[String]>,
) -> Result<Verdict, CheckError> {
    let model = cx.model()?;
    let trace = match trace(cx, file, model.facts.layers)? {
        Traced::Done(trace) => trace,
        Traced::Refused(why) => {
            return Ok(Verdict::skip(format!("apr cannot trace {what}: {why}")));
        }
    };
    if trace.ids != oracle.ids {
        return Err(CheckError::Input {
            what: "stage oracle".into(),
            reason: format!(
                "{} holds HF's stages for ids {:?}, but apr traced {:?} from {what}; remake it \
                 with `tmgt oracle --stage-ids {}`",
                oracle.path.display(),
                oracle.ids,
                trace.ids,
                join(&trace.ids)
            ),
        });
    }
    let facts = &model.facts;
    let shape = Shape {
        heads: facts.heads,
        kv_heads: facts.kv_heads,
        head_dim: facts.hidden / facts.heads.max(1),
    };
    let (rows, missing) = compare_all(&trace, oracle, shape)?;
    if rows.is_empty() {
        return Err(CheckError::NoEvidence(format!(
            "apr's trace in {} holds none of the {} stages of {}",
            trace.dir.display(),
            oracle.stages.len(),
            oracle.path.display()
        )));
    }
    Ok(verdict(
        &rows,
        &missing,
        oracle,
        diverged,
        cx.thresholds().get::<LocalizeThresholds>()?.rel_l2,
    ))
}

/// The prompts on which the f32 `.apr` fails the runtime suite's judgement (RUN001's own),
/// from the same shared generations.
fn diverging_prompts(cx: &dyn Context, file: &std::path::Path) -> Result<Vec<String>, CheckError> {
    let mut diverged = Vec::new();
    for (i, prompt) in cx.prompts().iter().enumerate() {
        let oracle = cx.prompt_oracle(i)?;
        if judge_f32_apr(cx, file, prompt, &oracle)?.status == Status::Fail {
            diverged.push(prompt.name.clone());
        }
    }
    Ok(diverged)
}

/// Every oracle stage apr wrote, compared in forward order; the names of those it did not.
fn compare_all<'a>(
    trace: &Trace,
    oracle: &'a StageOracle,
    shape: Shape,
) -> Result<(Vec<Row<'a>>, Vec<String>), CheckError> {
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    let mut order = HeadOrder::Halves;
    for stage in &oracle.stages {
        let Some(values) = trace.stage(stage.layer, &stage.stage)? else {
            missing.push(stage.key.clone());
            continue;
        };
        let expected = stage.rows() * stage.row_len;
        if values.len() != expected {
            rows.push(Row {
                stage,
                error: StageError {
                    rel_l2: f64::INFINITY,
                    max_abs: f64::INFINITY,
                    cosine: 0.0,
                    norm_rel: f64::INFINITY,
                    elements: 0,
                    non_finite: false,
                },
                order: None,
                size: Some(values.len()),
            });
            continue;
        }
        let judge = |o: HeadOrder| {
            compare(&values, stage, oracle.row_cap, |c| {
                apr_column(&stage.stage, shape, o, c)
            })
        };
        if stage.stage == "qkv_matmul" {
            // The projection decides the order of this layer's Q and K heads.
            let halves = judge(HeadOrder::Halves);
            let interleaved = judge(HeadOrder::Interleaved);
            order = if interleaved.worst() < halves.worst() {
                HeadOrder::Interleaved
            } else {
                HeadOrder::Halves
            };
        }
        let is_ordered = ordered(&stage.stage);
        rows.push(Row {
            stage,
            error: judge(if is_ordered { order } else { HeadOrder::Halves }),
            order: is_ordered.then_some(order),
            size: None,
        });
    }
    Ok((rows, missing))
}

fn verdict(
    rows: &[Row<'_>],
    missing: &[String],
    oracle: &StageOracle,
    diverged: Option<&[String]>,
    tolerance: f64,
) -> Verdict {
    let evidence = Evidence::new(rows.len(), "stages");
    let first = rows.iter().position(|r| r.departs(tolerance));
    let tokens = match diverged {
        Some([]) => "; its tokens agree on every prompt".to_string(),
        Some(prompts) => format!("; tokens diverge on {}", prompts.join(", ")),
        None => String::new(),
    };
    let mut notes = Vec::new();
    if oracle.ids != oracle.hf_ids {
        notes.push(format!(
            "apr tokenized the trace prompt {:?} as {:?} where HF's tokenizer gives {:?} (the \
             stages are compared on apr's ids)",
            oracle.prompt, oracle.ids, oracle.hf_ids
        ));
    }
    if !missing.is_empty() {
        notes.push(format!(
            "apr wrote no file for {} of HF's stages ({})",
            missing.len(),
            missing
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
                + if missing.len() > 4 { ", ..." } else { "" }
        ));
    }
    let details = Details::Localization(Box::new(Localization {
        prompt: oracle.prompt.clone(),
        ids: oracle.ids.clone(),
        hf_ids: oracle.hf_ids.clone(),
        tolerance,
        first_departure: first.map(|i| rows[i].stage.key.clone()),
        diverged_prompts: diverged.unwrap_or_default().to_vec(),
        missing: missing.to_vec(),
        stages: rows.iter().map(|r| r.to_row(tolerance)).collect(),
    }));
    let tail = if notes.is_empty() {
        String::new()
    } else {
        format!("; {}", notes.join("; "))
    };
    let verdict = match first {
        Some(i) => {
            let at = &rows[i];
            let what = match at.size {
                Some(n) => format!(
                    "apr wrote {n} values where HF has {} ({} rows of {})",
                    at.stage.rows() * at.stage.row_len,
                    at.stage.rows(),
                    at.stage.row_len
                ),
                None => format!(
                    "rel. L2 {}, cosine {:.4}",
                    sci(at.error.worst()),
                    at.error.cosine
                ),
            };
            let before = match i.checked_sub(1).map(|j| &rows[j]) {
                Some(prev) => format!(
                    " while {} agrees to {}",
                    prev.place(),
                    sci(prev.error.worst())
                ),
                None => " at the first stage traced".to_string(),
            };
            let after = rows
                .get(i + 1)
                .map(|next| format!(", then {} at {}", next.place(), sci(next.error.worst())))
                .unwrap_or_default();
            Verdict::fail(
                evidence,
                format!(
                    "{} departs from HF ({what}){before}{after}{tokens}{tail}",
                    at.place()
                ),
            )
        }
        None => {
            let worst = rows
                .iter()
                .max_by(|a, b| a.error.worst().total_cmp(&b.error.worst()))
                .map(|r| format!("{} at {}", r.place(), sci(r.error.worst())))
                .unwrap_or_default();
            let outside = if diverged.is_none_or(<[String]>::is_empty) {
                String::new()
            } else {
                " (the divergence starts outside this forward pass: the prompt's tokens, the \
                 decoding loop or the cache)"
                    .to_string()
            };
            Verdict::pass(
                evidence,
                format!(
                    "no stage beyond noise: all {} stages agree with HF within rel. L2 {} \
                     (worst {worst}){tokens}{outside}{tail}",
                    rows.len(),
                    sci(tolerance)
                ),
            )
        }
    };
    verdict.with_details(details)
}

fn sci(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1e}")
    } else {
        "∞".to_string()
    }
}

fn join(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}
