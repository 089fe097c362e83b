//! `tmgt list-checks`: every registered check, straight from the registry, so a checks crate
//! that failed to link shows up as missing here.

use crate::Exit;
use serde::Serialize;
use tmgt_check::Registry;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Serialize)]
struct Row {
    code: &'static str,
    name: &'static str,
    suite: &'static str,
    #[serde(rename = "crate")]
    krate: &'static str,
    scope: &'static str,
    summary: &'static str,
    docs: &'static str,
}

pub fn list(args: &ListArgs) -> Exit {
    let registry = match Registry::load() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the check registry is inconsistent: {e}");
            return Exit::Harness;
        }
    };
    let rows: Vec<Row> = registry
        .checks()
        .iter()
        .map(|r| Row {
            code: r.meta.code,
            name: r.meta.name,
            suite: r.meta.suite,
            krate: r.meta.krate,
            scope: r.meta.scope.as_str(),
            summary: r.meta.summary,
            docs: r.meta.docs.trim(),
        })
        .collect();
    match args.format {
        Format::Json => match serde_json::to_string_pretty(&rows) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Harness;
            }
        },
        Format::Table => {
            let width = |f: fn(&Row) -> usize| rows.iter().map(f).max().unwrap_or(0);
            let (wc, wn, ws, wp) = (
                width(|r| r.code.len()),
                width(|r| r.name.len()),
                width(|r| r.suite.len()),
                width(|r| r.scope.len()),
            );
            println!(
                "{:wc$}  {:wn$}  {:ws$}  {:wp$}  SUMMARY",
                "CODE", "NAME", "SUITE", "SCOPE"
            );
            for r in &rows {
                println!(
                    "{:wc$}  {:wn$}  {:ws$}  {:wp$}  {}",
                    r.code, r.name, r.suite, r.scope, r.summary
                );
            }
            eprintln!(
                "{} checks in {} suites",
                rows.len(),
                registry.suites().len()
            );
        }
    }
    Exit::Ok
}
