use crate::verdict::judge_artifact;
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// The round trip (apr's GGUF export imported back to `.apr`) holds every source tensor
    /// under apr's names and layout, bit-exact: both steps are float32, so any departure is
    /// one of the two conversions losing or moving values, and the kind of damage says which.
    pub RoundTripWeights {
        code: "WGT003",
        name: "roundtrip-weights-depart-from-source",
        suite: "weights",
        scope: Scope::Model,
        summary: "the GGUF round trip's .apr holds every source tensor bit-exactly",
    }
}

impl Check for RoundTripWeights {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        judge_artifact(cx, ArtifactKind::RoundTrip, "the round-trip .apr")
    }
}
