use crate::layout::Layout;
use apr_client::{Invocation, parse};
use serde_json::{Value, json};
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
            let bytes = std::fs::read(&out).map_err(|e| CheckError::Input {
                what: out.display().to_string(),
                reason: e.to_string(),
            })?;
            made.push((out, bytes));
        }
        let (a, b) = (&made[0], &made[1]);
        let evidence = Evidence::new(a.1.len().max(b.1.len()), "bytes");
        if a.1 == b.1 {
            return Ok(Verdict::pass(
                evidence,
                format!(
                    "two imports of {} are byte-identical ({} bytes)",
                    source.display(),
                    a.1.len()
                ),
            ));
        }
        let differing =
            a.1.iter().zip(&b.1).filter(|(x, y)| x != y).count() + a.1.len().abs_diff(b.1.len());
        let regions = differing_regions(&a.0, &a.1, &b.0, &b.1);
        Ok(Verdict::fail(
            evidence,
            format!(
                "two imports of {} differ in {differing} of {} bytes: {}",
                source.display(),
                a.1.len().max(b.1.len()),
                regions.join("; ")
            ),
        )
        .with_details(json!({ "first": a.0, "second": b.0, "regions": regions })))
    }
}

/// Which parts of two `.apr` files differ, in words.
fn differing_regions(a_path: &Path, a: &[u8], b_path: &Path, b: &[u8]) -> Vec<String> {
    let (Ok(la), Ok(lb)) = (Layout::read(a_path), Layout::read(b_path)) else {
        return vec!["the files' layouts cannot be read".into()];
    };
    let slice = |bytes: &[u8], r: &std::ops::Range<u64>| {
        bytes
            .get(r.start as usize..r.end as usize)
            .map(<[u8]>::to_vec)
    };
    let header = |l: &Layout| 0..l.header.len() as u64;
    let mut out = Vec::new();
    for (name, ra, rb) in [
        ("header", header(&la), header(&lb)),
        ("metadata", la.metadata.clone(), lb.metadata.clone()),
        ("tensor index", la.index.clone(), lb.index.clone()),
        ("tensor data", la.data.clone(), lb.data.clone()),
    ] {
        let (sa, sb) = (slice(a, &ra), slice(b, &rb));
        if sa == sb {
            continue;
        }
        if ra.end - ra.start != rb.end - rb.start {
            out.push(format!(
                "{name} is {} bytes in one and {} in the other",
                ra.end - ra.start,
                rb.end - rb.start
            ));
            continue;
        }
        let same_json = name == "metadata"
            && matches!(
                (json_of(sa.as_deref()), json_of(sb.as_deref())),
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
