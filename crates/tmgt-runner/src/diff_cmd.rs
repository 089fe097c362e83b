//! `tmgt diff OLD/report.json NEW/report.json`: newly failing, newly passing, changed
//! verdicts and messages, added and removed checks. Exits 1 when anything newly fails.

use crate::Exit;
use crate::ticket_cmd::read_report;
use std::path::PathBuf;
use tmgt_report::diff::Diff;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Markdown for people and CI summaries.
    Text,
    /// The changes as JSON.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The earlier run's report.json.
    old: PathBuf,
    /// The later run's report.json.
    new: PathBuf,
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
}

pub fn diff(args: &DiffArgs) -> Exit {
    let (old, new) = match (read_report(&args.old), read_report(&args.new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let d = Diff::between(&old, &new);
    match args.format {
        DiffFormat::Text => print!("{}", d.render(&old, &new)),
        DiffFormat::Json => match serde_json::to_string_pretty(&d) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Harness;
            }
        },
    }
    if d.regressed() {
        Exit::ChecksFailed
    } else {
        Exit::Ok
    }
}
