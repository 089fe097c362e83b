//! `tmgt`: falsify apr's model conversions and runtimes against HuggingFace oracles.
//!
//! Exit codes: 0 every result passed or was skipped; 1 a check failed or apr misbehaved so
//! that a check could not reach a verdict; 2 usage or configuration error; 3 the harness could
//! not run at all (no apr, an oracle made from another model, an unwritable report).

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tmgt_runner::{
    Exit, bench, damage_cmd, diff_cmd, human, ledger_cmd, list, merge_cmd, oracle_cmd, run,
    ticket_cmd,
};

#[derive(Debug, Parser)]
#[command(
    name = "tmgt",
    version,
    about = "Tiny model ground truth: falsify apr's conversions and runtimes against HF oracles"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the check matrix and write reports.
    Run(run::RunArgs),
    /// Make every artifact the profile needs (apr import/export), without running checks.
    Prepare(run::PrepareArgs),
    /// List every registered check.
    ListChecks(list::ListArgs),
    /// Run the matrix as built and sequentially without reuse, and print the figures.
    BenchRun(bench::BenchArgs),
    /// Print a finished run's bug tickets (Markdown): one section per distinct failure.
    Ticket(ticket_cmd::TicketArgs),
    /// Compare two runs' reports; exits 1 when a result newly fails.
    Diff(diff_cmd::DiffArgs),
    /// Fetch and make the files the profile's models do not carry (real model weights).
    Fetch(run::FetchArgs),
    /// Make HF transformers float32 greedy oracles for a local model (HF folder or GGUF).
    Oracle(oracle_cmd::OracleArgs),
    /// Remake one of the corruption suite's damaged copies from its artifact and label.
    Damage(damage_cmd::DamageArgs),
    /// Join the reports of `tmgt run --shard K/N` into one report and every reporter.
    Merge(merge_cmd::MergeArgs),
    /// Render the known-issues ledger as a findings page (Markdown), grouped by suite.
    Ledger(ledger_cmd::LedgerArgs),
}

fn main() -> ExitCode {
    human::init_tracing();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    let exit = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Prepare(args) => run::prepare(&args),
        Command::ListChecks(args) => list::list(&args),
        Command::BenchRun(args) => bench::bench(&args),
        Command::Ticket(args) => ticket_cmd::ticket(&args),
        Command::Diff(args) => diff_cmd::diff(&args),
        Command::Oracle(args) => oracle_cmd::oracle(&args),
        Command::Fetch(args) => run::fetch(&args),
        Command::Damage(args) => damage_cmd::damage(&args),
        Command::Merge(args) => merge_cmd::merge(&args),
        Command::Ledger(args) => ledger_cmd::ledger(&args),
    };
    // No llama.cpp worker or apr server outlives tmgt.
    llamacpp_runtime::shutdown();
    apr_serve::shutdown();
    exit.into()
}
