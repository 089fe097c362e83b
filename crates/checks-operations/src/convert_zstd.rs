use crate::convert_compress::lossless_and_smaller;
use tmgt_check::{Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// `apr convert --compress zstd` is lossless and smaller: the output's tensors equal the
    /// input's byte for byte as tmgt reads them, it generates the input's greedy tokens, and
    /// its tensor data takes fewer bytes than the input's.
    pub ConvertZstd {
        code: "CNV001",
        name: "convert-zstd-lossy-or-not-smaller",
        suite: "convert",
        scope: Scope::Model,
        summary: "apr convert --compress zstd is lossless and smaller",
        // The conversion and two generations.
        cost: 3,
    }
}

impl Check for ConvertZstd {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        lossless_and_smaller(cx, "zstd")
    }
}
