//! apr's subcommands, as a closed set: an invocation names one of these, never free text.

use serde::{Serialize, Serializer};

/// A subcommand of `apr` (two words for the nested ones: `rosetta diff-tensors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subcommand {
    Bench,
    Chat,
    Check,
    CompareHf,
    Convert,
    Debug,
    Diff,
    Distill,
    Eval,
    Export,
    Finetune,
    Hex,
    Import,
    Inspect,
    Lint,
    List,
    Merge,
    Oracle,
    Parity,
    Prune,
    Pull,
    Qa,
    Quantize,
    RosettaDiffTensors,
    RosettaFingerprint,
    Run,
    Tensors,
    TokenizeEncode,
    Trace,
    Tree,
    Validate,
    /// `apr --version`.
    Version,
}

impl Subcommand {
    /// The words on apr's command line.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Subcommand::Bench => "bench",
            Subcommand::Chat => "chat",
            Subcommand::Check => "check",
            Subcommand::CompareHf => "compare-hf",
            Subcommand::Convert => "convert",
            Subcommand::Debug => "debug",
            Subcommand::Diff => "diff",
            Subcommand::Distill => "distill",
            Subcommand::Eval => "eval",
            Subcommand::Export => "export",
            Subcommand::Finetune => "finetune",
            Subcommand::Hex => "hex",
            Subcommand::Import => "import",
            Subcommand::Inspect => "inspect",
            Subcommand::Lint => "lint",
            Subcommand::List => "list",
            Subcommand::Merge => "merge",
            Subcommand::Oracle => "oracle",
            Subcommand::Parity => "parity",
            Subcommand::Prune => "prune",
            Subcommand::Pull => "pull",
            Subcommand::Qa => "qa",
            Subcommand::Quantize => "quantize",
            Subcommand::RosettaDiffTensors => "rosetta diff-tensors",
            Subcommand::RosettaFingerprint => "rosetta fingerprint",
            Subcommand::Run => "run",
            Subcommand::Tensors => "tensors",
            Subcommand::TokenizeEncode => "tokenize encode",
            Subcommand::Trace => "trace",
            Subcommand::Tree => "tree",
            Subcommand::Validate => "validate",
            Subcommand::Version => "version",
        }
    }
}

impl std::fmt::Display for Subcommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Subcommand {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
