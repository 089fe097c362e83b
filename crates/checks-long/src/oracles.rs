//! The instance's long-context oracles, each checked against the model files it was made from
//! before a verdict leans on it.

use crate::LongThresholds;
use std::path::Path;
use tmgt_check::{CheckError, Context, ModelUnderTest};
use tmgt_oracle::{BoundaryOracle, LONG_DIR, NllOracle, Oracle, OracleError};

fn folder(model: &ModelUnderTest) -> std::path::PathBuf {
    model.oracle_dir.join(LONG_DIR)
}

/// The help every missing long oracle carries.
fn missing(model: &ModelUnderTest, what: &str) -> CheckError {
    CheckError::Input {
        what: format!("the long-context oracles of {}", model.name),
        reason: format!(
            "{} holds no {what}; make them with `tmgt oracle {}` ([long] in the configuration)",
            folder(model).display(),
            model.name
        ),
    }
}

fn verified<T>(
    model: &ModelUnderTest,
    oracle: T,
    verify: impl FnOnce(&T, &Path) -> Result<(), OracleError>,
) -> Result<T, CheckError> {
    if let Some(dir) = model.local_dir() {
        verify(&oracle, dir)?;
    }
    Ok(oracle)
}

/// The longest prefix continuation within `[thresholds.long] max_prefix`, and its length.
pub fn prefix(cx: &dyn Context) -> Result<(u32, Oracle), CheckError> {
    let model = cx.model()?;
    let limit = cx.thresholds().get::<LongThresholds>()?.max_prefix;
    let Some(n) = tmgt_oracle::long_prefixes(&model.oracle_dir)
        .into_iter()
        .filter(|n| *n <= limit)
        .max()
    else {
        return Err(missing(
            model,
            &format!("prefix continuation of at most {limit} tokens"),
        ));
    };
    let oracle = tmgt_oracle::load(&folder(model), &format!("prefix-{n}"))?;
    Ok((n, verified(model, oracle, Oracle::verify_model)?))
}

/// The long-range copy prompt's oracle.
pub fn copy(cx: &dyn Context) -> Result<Oracle, CheckError> {
    let model = cx.model()?;
    if !folder(model).join("copy.json").is_file() {
        return Err(missing(model, "copy.json"));
    }
    let oracle = tmgt_oracle::load(&folder(model), "copy")?;
    verified(model, oracle, Oracle::verify_model)
}

/// The text's per-token negative log-likelihood.
pub fn nll(cx: &dyn Context) -> Result<NllOracle, CheckError> {
    let model = cx.model()?;
    if !folder(model).join("nll.json").is_file() {
        return Err(missing(model, "nll.json"));
    }
    let oracle = tmgt_oracle::load_nll(&model.oracle_dir)?;
    verified(model, oracle, NllOracle::verify_model)
}

/// The prompts around the model's context; `None` when the text is shorter than the context.
pub fn boundary(cx: &dyn Context) -> Result<Option<BoundaryOracle>, CheckError> {
    let model = cx.model()?;
    if !folder(model).join("nll.json").is_file() {
        return Err(missing(model, "nll.json"));
    }
    match tmgt_oracle::load_boundary(&model.oracle_dir)? {
        Some(oracle) => Ok(Some(verified(model, oracle, BoundaryOracle::verify_model)?)),
        None => Ok(None),
    }
}

/// The prompt lengths the model's position oracles hold within `[thresholds.long]
/// max_position`, ascending; an input error when none.
pub fn positions(cx: &dyn Context) -> Result<Vec<u32>, CheckError> {
    let model = cx.model()?;
    let limit = cx.thresholds().get::<LongThresholds>()?.max_position;
    let lengths: Vec<u32> = tmgt_oracle::long_positions(&model.oracle_dir)
        .into_iter()
        .filter(|n| *n <= limit)
        .collect();
    if lengths.is_empty() {
        return Err(missing(
            model,
            &format!(
                "position continuation of at most {limit} tokens (position-N.json; [long] \
                 positions)"
            ),
        ));
    }
    Ok(lengths)
}

/// The continuation of the prompt of `n` tokens.
pub fn position(cx: &dyn Context, n: u32) -> Result<Oracle, CheckError> {
    let model = cx.model()?;
    let oracle = tmgt_oracle::load(&folder(model), &format!("position-{n}"))?;
    verified(model, oracle, Oracle::verify_model)
}
