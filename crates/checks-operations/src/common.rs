//! What the operations' checks share: tensors compared by tmgt's own reader, and the greedy
//! tokens a file generates.

use apr_client::{Invocation, parse};
use checks_structure::layout::Layout;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use tmgt_check::{CheckError, Context, Evidence, Verdict};

/// Tokens generated to compare an operation's output with its input.
pub(crate) const TOKENS: u32 = 8;

/// A file an operation wrote, read back: its layout, or why it is not an `.apr` (a finding
/// about apr, not a harness error).
pub(crate) fn read_output(operation: &str, path: &Path) -> Result<Layout, Verdict> {
    if !path.is_file() {
        return Err(Verdict::fail(
            Evidence::new(1, "files"),
            format!(
                "apr {operation} reported success but wrote no {}",
                path.display()
            ),
        ));
    }
    Layout::read(path).map_err(|why| {
        Verdict::fail(
            Evidence::new(1, "files"),
            format!(
                "apr {operation} wrote {} that is not an APR v2 file: {why}",
                path.display()
            ),
        )
    })
}

pub(crate) fn layout_of(path: &Path) -> Result<Layout, CheckError> {
    Layout::read(path).map_err(|reason| CheckError::file(path, reason))
}

/// How two files' tensors compare, name by name.
#[derive(Debug, Default)]
pub(crate) struct TensorComparison {
    pub compared: usize,
    /// Names in the expected file the other lacks.
    pub missing: Vec<String>,
    /// Names the other file adds.
    pub extra: Vec<String>,
    /// Tensors whose dtype or bytes differ, with the first differing byte.
    pub differing: Vec<String>,
}

impl TensorComparison {
    pub fn identical(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.differing.is_empty()
    }

    /// One line: what differs, the first few of each kind named.
    pub fn describe(&self) -> String {
        let few = |v: &[String]| tmgt_check::first_few(v, 3, ", ");
        let mut parts = Vec::new();
        if !self.differing.is_empty() {
            parts.push(format!(
                "{} of {} tensors differ ({})",
                self.differing.len(),
                self.compared,
                few(&self.differing)
            ));
        }
        if !self.missing.is_empty() {
            parts.push(format!(
                "{} tensors missing ({})",
                self.missing.len(),
                few(&self.missing)
            ));
        }
        if !self.extra.is_empty() {
            parts.push(format!(
                "{} tensors added ({})",
                self.extra.len(),
                few(&self.extra)
            ));
        }
        if parts.is_empty() {
            format!("all {} tensors byte-identical", self.compared)
        } else {
            parts.join("; ")
        }
    }
}

/// Compares `made`'s tensors with `want`'s, byte for byte, a block at a time.
pub(crate) fn compare_tensors(
    want: (&Path, &Layout),
    made: (&Path, &Layout),
) -> Result<TensorComparison, CheckError> {
    fn io(path: &Path) -> impl Fn(std::io::Error) -> CheckError + '_ {
        move |e| CheckError::file(path, e)
    }
    let mut out = TensorComparison::default();
    let (mut fa, mut fb) = (
        File::open(want.0).map_err(io(want.0))?,
        File::open(made.0).map_err(io(made.0))?,
    );
    for a in &want.1.tensors {
        let Some(b) = made.1.tensors.iter().find(|t| t.name == a.name) else {
            out.missing.push(a.name.clone());
            continue;
        };
        out.compared += 1;
        if a.dtype != b.dtype {
            out.differing
                .push(format!("{}: dtype {} became {}", a.name, a.dtype, b.dtype));
            continue;
        }
        let (la, lb) = (a.bytes.end - a.bytes.start, b.bytes.end - b.bytes.start);
        if la != lb {
            out.differing
                .push(format!("{}: {la} bytes became {lb}", a.name));
            continue;
        }
        if let Some(at) = first_difference(&mut fa, a.bytes.start, &mut fb, b.bytes.start, la)
            .map_err(io(made.0))?
        {
            out.differing
                .push(format!("{}: first differing byte {at} of {la}", a.name));
        }
    }
    out.extra = made
        .1
        .tensors
        .iter()
        .filter(|b| !want.1.tensors.iter().any(|a| a.name == b.name))
        .map(|b| b.name.clone())
        .collect();
    Ok(out)
}

/// The offset of the first byte that differs between two equal-length ranges.
fn first_difference(
    a: &mut File,
    at_a: u64,
    b: &mut File,
    at_b: u64,
    len: u64,
) -> std::io::Result<Option<u64>> {
    const BLOCK: u64 = 1 << 20;
    a.seek(SeekFrom::Start(at_a))?;
    b.seek(SeekFrom::Start(at_b))?;
    let (mut ba, mut bb) = (vec![0u8; BLOCK as usize], vec![0u8; BLOCK as usize]);
    let mut done = 0;
    while done < len {
        let n = (len - done).min(BLOCK) as usize;
        a.read_exact(&mut ba[..n])?;
        b.read_exact(&mut bb[..n])?;
        if let Some(i) = ba[..n].iter().zip(&bb[..n]).position(|(x, y)| x != y) {
            return Ok(Some(done + i as u64));
        }
        done += n as u64;
    }
    Ok(None)
}

/// The greedy tokens apr generates from `path` for the run's first prompt, or apr's refusal
/// as a message (a file apr cannot run is a finding).
pub(crate) fn generate(
    cx: &dyn Context,
    path: &Path,
) -> Result<Result<Vec<u32>, String>, CheckError> {
    let prompt = cx.prompts().first().ok_or(CheckError::Scope("prompt"))?;
    let captured = cx.apr(&Invocation::run(path, &prompt.text, TOKENS, None)?)?;
    Ok(match parse::run(&captured) {
        Ok(reply) => Ok(reply.value.tokens),
        Err(e) => Err(e.to_string()),
    })
}

/// An output path in the instance's scratch folder.
pub(crate) fn scratch(cx: &dyn Context, name: &str) -> Result<PathBuf, CheckError> {
    let path = cx.scratch_dir()?.join(name);
    let _ = std::fs::remove_file(&path);
    Ok(path)
}

/// The verdict of an operation whose output must be `want` itself: the same tensors, byte for
/// byte, and the same greedy tokens.
pub(crate) fn judge_identity(
    cx: &dyn Context,
    operation: &str,
    want: &Path,
    made: &Path,
) -> Result<Verdict, CheckError> {
    let want_layout = layout_of(want)?;
    let made_layout = match read_output(operation, made) {
        Ok(l) => l,
        Err(verdict) => return Ok(verdict),
    };
    let tensors = compare_tensors((want, &want_layout), (made, &made_layout))?;
    let expected = generate(cx, want)?;
    let got = generate(cx, made)?;
    // Tokens are judged only where the input itself runs (apr 0.72.3 cannot run some of its
    // own imports); the tensors are judged always.
    let (same_tokens, tokens) = match (&expected, &got) {
        (Ok(a), Ok(b)) if a == b => (true, format!("the same {} greedy tokens", a.len())),
        (Ok(a), Ok(b)) => (
            false,
            format!("greedy tokens {b:?} where the input generates {a:?}"),
        ),
        (Ok(_), Err(e)) => (false, format!("apr cannot run it: {e}")),
        (Err(e), _) => (
            true,
            format!("tokens not compared: apr cannot run the input either ({e})"),
        ),
    };
    let evidence = tensors.compared + expected.as_ref().map_or(0, Vec::len);
    Ok(Verdict::judge(
        tensors.identical() && same_tokens,
        Evidence::new(evidence, "tensors and tokens"),
        format!("apr {operation}: {}; {tokens}", tensors.describe()),
    )
    .with_facts(serde_json::json!({
        "input": want, "output": made,
        "tensors_compared": tensors.compared, "differing": tensors.differing,
        "missing": tensors.missing, "added": tensors.extra,
        "input_tokens": expected.as_ref().ok(), "output_tokens": got.as_ref().ok(),
        "input_error": expected.err(), "output_error": got.err(),
    })))
}

/// A copy of the `.apr` at `from` with the sign of every float32 value flipped: a second model
/// of the same structure whose every weight differs, made by tmgt's own byte edit.
pub(crate) fn negated_copy(from: &Path, layout: &Layout, to: &Path) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::copy(from, to)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(to)?;
    let mut block = vec![0u8; 1 << 20];
    for t in layout.tensors.iter().filter(|t| t.is_f32) {
        let mut at = t.bytes.start;
        while at < t.bytes.end {
            let n = ((t.bytes.end - at).min(block.len() as u64) / 4 * 4).max(4) as usize;
            file.seek(SeekFrom::Start(at))?;
            file.read_exact(&mut block[..n])?;
            for v in block[..n].chunks_exact_mut(4) {
                v[3] ^= 0x80;
            }
            file.seek(SeekFrom::Start(at))?;
            file.write_all(&block[..n])?;
            at += n as u64;
        }
    }
    Ok(())
}

/// The model's f32 `.apr`, the input of every operation.
pub(crate) fn f32_apr(cx: &dyn Context) -> Result<PathBuf, CheckError> {
    cx.artifact(tmgt_check::ArtifactKind::Apr(tmgt_check::Quant::F32))
}

/// Runs an operation; apr refusing it is the check's failure (these operations must succeed
/// on a faithful model), any other trouble an error. A refusal is a non-zero exit, with or
/// without a document (`apr finetune` prints its plan, then fails).
pub(crate) fn operate<T>(
    cx: &dyn Context,
    invocation: &Invocation,
    parse: impl Fn(&apr_client::Captured) -> Result<apr_client::Reply<T>, apr_client::AprError>,
) -> Result<Result<T, Verdict>, CheckError> {
    let captured = cx.apr(invocation)?;
    match parse(&captured) {
        Ok(reply) if reply.exit_code != 0 => Ok(Err(Verdict::fail(
            Evidence::new(1, "calls"),
            format!(
                "`{}` refused: exit {} after its report: {}",
                invocation.display(),
                reply.exit_code,
                apr_client::headline(&captured.stderr_tail(20))
            ),
        ))),
        Ok(reply) => Ok(Ok(reply.value)),
        Err(e @ apr_client::AprError::Exit { .. }) => Ok(Err(Verdict::fail(
            Evidence::new(1, "calls"),
            format!("`{}` refused: {e}", invocation.display()),
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `apr merge` of `inputs` with `strategy` (and `weights`), judged against `want`.
pub(crate) fn merge_is(
    cx: &dyn Context,
    inputs: &[&Path],
    strategy: &str,
    weights: Option<&[f64]>,
    want: &Path,
) -> Result<Verdict, CheckError> {
    merge_is_with(cx, inputs, strategy, weights, None, want)
}

/// The same with a base model (TIES, DARE).
pub(crate) fn merge_is_with(
    cx: &dyn Context,
    inputs: &[&Path],
    strategy: &str,
    weights: Option<&[f64]>,
    base: Option<&Path>,
    want: &Path,
) -> Result<Verdict, CheckError> {
    let out = scratch(cx, &format!("merged-{strategy}.apr"))?;
    let invocation = Invocation::merge(inputs, strategy, weights, base, &out)?;
    if let Err(refused) = operate(cx, &invocation, parse::merge)? {
        return Ok(refused);
    }
    judge_identity(cx, &format!("merge --strategy {strategy}"), want, &out)
}
