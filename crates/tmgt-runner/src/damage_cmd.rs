//! `tmgt damage`: remakes one of the corruption suite's damaged copies, byte for byte, from
//! the artifact and the copy's label. The suite deletes each copy once judged; a result's
//! details and its ticket carry this command for every copy its apr calls read.

use crate::Exit;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct DamageArgs {
    /// The intact artifact (`.apr` or `.gguf`) the copy was made from.
    artifact: PathBuf,
    /// The copy's label, as the result's details name it (`truncated-in-tensor-index`).
    label: String,
    /// Where to write the damaged copy.
    #[arg(long)]
    out: PathBuf,
}

pub fn damage(args: &DamageArgs) -> Exit {
    let artifact = crate::absolute(&args.artifact);
    let out = crate::absolute(&args.out);
    if let Some(parent) = out.parent() {
        if let Err(e) = std::fs::create_dir_all(parent) {
            eprintln!("error: cannot make {}: {e}", parent.display());
            return Exit::Harness;
        }
    }
    match checks_structure::remake_damaged_copy(&artifact, &args.label, &out) {
        Ok(description) => {
            eprintln!("damage: {} ({description})", out.display());
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Usage
        }
    }
}
