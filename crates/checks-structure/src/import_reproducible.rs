use crate::layout::Layout;
use apr_client::{Invocation, parse};
use serde_json::{Value, json};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// Two `apr import`s of the same source by the same apr give the same bytes. A conversion
    /// whose output changes from run to run cannot be pinned by its hash, cached by content
    /// or told apart from a tampered copy. Both imports write the same file name (apr records
    /// it in the model) into two scratch folders. On a difference the message says which
    /// regions of the file differ; where only the JSON metadata does and both parse to the
    /// same document, its keys came out in another order. apr 0.72.3 writes the metadata from
    /// a hash map: every import orders it differently.
    pub ImportReproducible {
        code: "PRE004",
        name: "import-not-reproducible",
        suite: "prepare",
        scope: Scope::Model,
        summary: "two apr imports of the same source are byte-identical",
        // Two imports.
        cost: 2,
    }
}

impl Check for ImportReproducible {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = cx.model()?;
        let Some(source) = model.local_dir() else {
            return Ok(Verdict::skip(
                "the model comes from the hub; tmgt imports local copies only",
            ));
        };
        let scratch = cx.scratch_dir()?;
        let mut made = Vec::new();
        for side in ["first", "second"] {
            let folder = scratch.join(side);
            std::fs::create_dir_all(&folder).map_err(|e| CheckError::Input {
                what: format!("scratch folder {}", folder.display()),
                reason: e.to_string(),
            })?;
            let out = folder.join(format!("{}.apr", model.name));
            let _ = std::fs::remove_file(&out);
            // A failed import is apr's error, said by the reply's own reading.
            parse::import(&*cx.apr(&Invocation::import(source, &out, None)?)?)?;
            made.push(out);
        }
        let (a, b) = (&made[0], &made[1]);
        let io = |e: std::io::Error| CheckError::Input {
            what: format!("{} and {}", a.display(), b.display()),
            reason: e.to_string(),
        };
        let (len_a, len_b) = (file_len(a).map_err(io)?, file_len(b).map_err(io)?);
        let differing = differing_bytes(a, 0..len_a, b, 0..len_b).map_err(io)?;
        let evidence = Evidence::new(len_a.max(len_b), "bytes");
        if differing == 0 {
            return Ok(Verdict::pass(
                evidence,
                format!(
                    "two imports of {} are byte-identical ({len_a} bytes)",
                    source.display(),
                ),
            ));
        }
        let regions = differing_regions(a, b);
        Ok(Verdict::fail(
            evidence,
            format!(
                "two imports of {} differ in {differing} of {} bytes: {}",
                source.display(),
                len_a.max(len_b),
                regions.join("; ")
            ),
        )
        .with_facts(json!({ "first": a, "second": b, "regions": regions })))
    }
}

/// Files are compared a block at a time: a real model's imports are hundreds of megabytes.
const BLOCK: usize = 1 << 20;

fn file_len(path: &Path) -> std::io::Result<u64> {
    Ok(std::fs::metadata(path)?.len())
}

/// The bytes that differ between a range of one file and a range of another, counting the
/// longer range's extra bytes as differing.
fn differing_bytes(a: &Path, ra: Range<u64>, b: &Path, rb: Range<u64>) -> std::io::Result<u64> {
    let open = |path: &Path, r: &Range<u64>| -> std::io::Result<_> {
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(r.start))?;
        Ok(f.take(r.end - r.start))
    };
    let (mut fa, mut fb) = (open(a, &ra)?, open(b, &rb)?);
    let (mut ba, mut bb) = (vec![0u8; BLOCK], vec![0u8; BLOCK]);
    let mut differing = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if na == 0 && nb == 0 {
            return Ok(differing);
        }
        let common = na.min(nb);
        differing += ba[..common]
            .iter()
            .zip(&bb[..common])
            .filter(|(x, y)| x != y)
            .count() as u64;
        differing += na.abs_diff(nb) as u64;
    }
}

/// Fills `buf` as far as the reader allows (a short read only at the end).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn read_range(path: &Path, r: &Range<u64>) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(r.start))?;
    let mut out = Vec::new();
    f.take(r.end - r.start).read_to_end(&mut out)?;
    Ok(out)
}

/// Which parts of two `.apr` files differ, in words.
fn differing_regions(a: &Path, b: &Path) -> Vec<String> {
    let (Ok(la), Ok(lb)) = (Layout::read(a), Layout::read(b)) else {
        return vec!["the files' layouts cannot be read".into()];
    };
    let header = |l: &Layout| 0..l.header.len() as u64;
    let mut out = Vec::new();
    for (name, ra, rb) in [
        ("header", header(&la), header(&lb)),
        ("metadata", la.metadata.clone(), lb.metadata.clone()),
        ("tensor index", la.index.clone(), lb.index.clone()),
        ("tensor data", la.data.clone(), lb.data.clone()),
    ] {
        if ra.end - ra.start != rb.end - rb.start {
            out.push(format!(
                "{name} is {} bytes in one and {} in the other",
                ra.end - ra.start,
                rb.end - rb.start
            ));
            continue;
        }
        match differing_bytes(a, ra.clone(), b, rb.clone()) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(e) => {
                out.push(format!("{name} cannot be read: {e}"));
                continue;
            }
        }
        // The metadata is small (kilobytes): read whole to compare as JSON.
        let same_json = name == "metadata"
            && matches!(
                (
                    json_of(read_range(a, &ra).ok().as_deref()),
                    json_of(read_range(b, &rb).ok().as_deref())
                ),
                (Some(x), Some(y)) if x == y
            );
        out.push(if same_json {
            "metadata: the same JSON document with its keys in another order".into()
        } else {
            format!("{name} differs")
        });
    }
    if out.is_empty() {
        out.push("bytes outside the header, metadata, index and tensor data differ".into());
    }
    out
}

/// The JSON document a metadata section holds (padding after it ignored).
fn json_of(bytes: Option<&[u8]>) -> Option<Value> {
    let bytes = bytes?;
    let end = bytes.iter().rposition(|b| *b == b'}')? + 1;
    serde_json::from_slice(&bytes[..end]).ok()
}
