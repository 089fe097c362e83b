//! What the two codec checks share.

use crate::common::{f32_apr, judge_identity, layout_of, operate, scratch};
use apr_client::{Invocation, parse};
use tmgt_check::{CheckError, Context, Evidence, Status, Verdict};

/// `apr convert --compress CODEC` of the f32 `.apr`: the same tensors and tokens (lossless),
/// and less tensor data than the input (compressed).
pub(crate) fn lossless_and_smaller(cx: &dyn Context, codec: &str) -> Result<Verdict, CheckError> {
    let input = f32_apr(cx)?;
    let out = scratch(cx, &format!("converted-{codec}.apr"))?;
    let invocation = Invocation::convert_compressed(&input, codec, &out)?;
    if let Err(refused) = operate(cx, &invocation, parse::convert)? {
        return Ok(refused);
    }
    let identity = judge_identity(cx, &format!("convert --compress {codec}"), &input, &out)?;
    if !out.is_file() || checks_structure::layout::Layout::read(&out).is_err() {
        return Ok(identity);
    }
    let data = |l: &checks_structure::layout::Layout| l.data.end - l.data.start;
    let (before, after) = (data(&layout_of(&input)?), data(&layout_of(&out)?));
    let smaller = after < before;
    let size = if smaller {
        format!("tensor data {after} bytes for the input's {before}")
    } else {
        format!("tensor data {after} bytes for the input's {before}: nothing was compressed")
    };
    Ok(Verdict::judge(
        identity.status == Status::Pass && smaller,
        Evidence::new(identity.evidence.count + 1, "tensors, tokens and sizes"),
        format!("{}; {size}", identity.message),
    )
    .with_details(identity.details))
}
