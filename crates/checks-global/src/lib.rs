//! Global suites: the artifacts every other suite depends on, apr's model cache listing,
//! layout agreement between quantization levels, and GPU/CPU parity.

mod list;
mod parity_gpu;
mod prepare_export;
mod prepare_import;
mod prepare_reimport;
mod rosetta_layout;
