//! What a check's outcome is written in, shared by the checks that write it and the reporters
//! that read it, so neither side spells a key the other parses back: the [`ErrorClass`] of a
//! result without a verdict, and the [`Details`] beside a verdict, tagged by kind.

mod details;
mod error_class;
mod localization;
mod requests;
mod tokens;

pub use details::{ArtifactRef, Details, WeightsJudgement};
pub use error_class::ErrorClass;
pub use localization::{Localization, StageRow};
pub use requests::RequestRecord;
pub use tokens::{Classification, TokenComparison, TokenJudgement, Window};
