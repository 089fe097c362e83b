//! The contract between tmgt's runner and its suites.
//!
//! A suite is a crate of checks. Each check is a unit struct declared with
//! [`declare_check!`], which records its code, name, suite, scope and docs and registers it
//! through `inventory`; the runner finds every check with [`Registry::load`] and gives each
//! instance a [`Context`] that reaches apr, the artifacts and the oracles. This crate knows
//! nothing of the runner, so a suite depends on it alone.

mod check;
mod context;
mod error;
mod memo;
mod registry;
mod subject;
mod thresholds;
mod verdict;

pub use check::{Check, CheckMeta, Scope};
pub use context::{ArtifactKind, Context, NativeGguf, require_int8_and_int4, require_level};
pub use error::CheckError;
pub use memo::Memo;
pub use registry::{Registration, Registry, RegistryError};
pub use subject::{
    ChatTemplate, ConfigJsonError, ModelFacts, ModelSource, ModelUnderTest, OpsOracleRef, Prompt,
    Quant, Rung,
};
pub use thresholds::{SuiteThresholds, TableError, ThresholdTable, Thresholds, normalize_as};
/// The outcome's vocabulary, for checks that write typed details.
pub use tmgt_outcome as outcome;
pub use tmgt_outcome::{Details, ErrorClass, RequestRecord, WeightsJudgement};
pub use verdict::{Evidence, Status, Verdict, first_few};

#[doc(hidden)]
pub use inventory;

/// Declares a suite's own pass criteria: `[thresholds.<suite>]` in suites.toml is read as
/// the type (a struct with `#[serde(default)]` where every key has a default), checked when
/// the configuration loads, and handed to the suite's checks by [`Thresholds::get`].
///
/// ```ignore
/// declare_thresholds!(ExampleThresholds, suite: "example");
/// ```
#[macro_export]
macro_rules! declare_thresholds {
    ($ty:ty, suite: $suite:expr $(,)?) => {
        impl $crate::ThresholdTable for $ty {
            const TABLE: &'static str = $suite;
        }

        $crate::inventory::submit! {
            $crate::SuiteThresholds {
                suite: $suite,
                normalize: $crate::normalize_as::<$ty>,
            }
        }
    };
}

/// Declares a check: a unit struct, its metadata (docs from the doc comment) and its
/// registration. The `run` logic follows in an `impl Check for Name` block.
///
/// ```ignore
/// declare_check! {
///     /// What it checks, and why it matters.
///     pub CanaryText {
///         code: "CAN001",
///         name: "int8-text-differs",
///         suite: "canary",
///         scope: Scope::ModelPrompt,
///         summary: "Int8 decoded text equals the oracle's text",
///         // Optional: what one instance costs, in apr loads of the model (default 1).
///         cost: 2,
///     }
/// }
/// ```
#[macro_export]
macro_rules! declare_check {
    (
        $(#[doc = $doc:expr])*
        $vis:vis $ty:ident {
            code: $code:expr,
            name: $name:expr,
            suite: $suite:expr,
            scope: $scope:expr,
            summary: $summary:expr
            $(, cost: $cost:expr)? $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $ty;

        impl $ty {
            /// This check's registered metadata.
            pub const META: $crate::CheckMeta = $crate::CheckMeta {
                code: $code,
                name: $name,
                suite: $suite,
                krate: env!("CARGO_PKG_NAME"),
                scope: $scope,
                summary: $summary,
                docs: concat!($($doc, "\n"),*),
                cost: {
                    let cost: u32 = 1;
                    $(let cost: u32 = $cost;)?
                    cost
                },
            };
        }

        $crate::inventory::submit! {
            $crate::Registration::new(&$ty::META, &$ty)
        }
    };
}
