use crate::convert_compress::lossless_and_smaller;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr convert --compress lz4` is lossless and smaller: the output's tensors equal the
    /// input's byte for byte as tmgt reads them, it generates the input's greedy tokens, and
    /// its tensor data takes fewer bytes than the input's.
    pub ConvertLz4 {
        code: "CNV002",
        name: "convert-lz4-lossy-or-not-smaller",
        suite: "convert",
        scope: Scope::Model,
        summary: "apr convert --compress lz4 is lossless and smaller",
        // The conversion and two generations.
        cost: 3,
    }
}

impl Check for ConvertLz4 {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        lossless_and_smaller(cx, "lz4")
    }
}
