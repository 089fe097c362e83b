//! `tmgt oracle`: make oracles in tmgt's format for any local model.
//!
//! HF transformers runs the model in float32 in the pinned Python environment
//! ([`crate::oracle_env`]); prompts and the evaluation text come from the configuration, so
//! the oracles match what `tmgt run` asks apr. A model is either an entry of the
//! configuration (its source and oracle folder) or any HF folder or GGUF file given with
//! `--source`, `--out` and a name.

use crate::Exit;
use crate::config::Config;
use crate::oracle_env::{self, OracleEnv};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tmgt_check::ModelSource;
use tmgt_oracle::{FLOAT_TOLERANCE, Grade};

#[derive(Debug, clap::Args)]
pub struct OracleArgs {
    /// The models, by their name in the configuration; a name the configuration lacks needs
    /// --source and --out. Default: every local model of the profile.
    models: Vec<String>,
    /// The configuration file (prompts, evaluation text, tokens per prompt).
    #[arg(long, default_value_os_t = crate::default_config())]
    config: PathBuf,
    /// The profile whose prompts and models are used.
    #[arg(long)]
    profile: Option<String>,
    /// The model to run instead of the entry's source: an HF folder or a .gguf file (with
    /// one model name only). A hub model's committed oracles are upgraded this way.
    #[arg(long)]
    source: Option<PathBuf>,
    /// The oracle folder to write (default: the entry's `oracle`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// For a GGUF source: write the float32 HF folder transformers dequantized here; the
    /// oracles are made from it, reloaded from disk.
    #[arg(long, value_name = "DIR")]
    save_hf: Option<PathBuf>,
    /// The oracles' `model` field (default: what the folder's oracles record, else the hub
    /// id, else local/NAME).
    #[arg(long)]
    model_id: Option<String>,
    /// Overwrite committed oracles whose tokens differ from the new ones (default: keep them
    /// and report each differing step with its margin).
    #[arg(long)]
    replace: bool,
    /// Write oracles tmgt cannot vouch for (the HF model disagrees with its GGUF on a
    /// behaviour field, or llama.cpp on the same weights departs at a confident step); the
    /// reasons are recorded in their provenance as `vouching.forced`.
    #[arg(long)]
    force: bool,
    /// Make the oracles in a scratch folder and grade them against the committed ones
    /// instead of writing them: identical bytes, or equivalent (every token, id and stop the
    /// same, floats within 1e-4, relative above 1, the largest difference printed); exits 1
    /// on any other difference.
    #[arg(long, conflicts_with_all = ["replace", "out"])]
    check: bool,
    /// Also write HF's activations at apr's trace stages (`stages.safetensors`, for the
    /// localize suite) for these comma-separated ids: the `Token ids:` line of `apr trace
    /// FILE.apr --save-tensor all`. A folder that already has stages is remade with the ids
    /// it records.
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    stage_ids: Option<Vec<u32>>,
    /// The Python 3.11 that makes the environment (default: $TMGT_PYTHON, python3.11, python3).
    #[arg(long)]
    python: Option<OsString>,
}

/// One model to make oracles for.
#[derive(Debug)]
struct Target {
    name: String,
    model_id: String,
    source: PathBuf,
    out: PathBuf,
    /// The configured oracle folder, whose stages' ids a folder made elsewhere reuses.
    configured: Option<PathBuf>,
    /// A ladder rung: its oracles stand for the rung's file alone and record its sha256.
    rung: bool,
    /// The chat templates its entry renders the conversations with.
    chat_templates: Vec<tmgt_check::ChatTemplate>,
    /// The repetition penalties its entry continues the prompts with.
    penalties: Vec<f64>,
}

pub fn oracle(args: &OracleArgs) -> Exit {
    match plan(args).and_then(|(config, targets)| make_all(args, &config, &targets)) {
        Ok(exit) => exit,
        Err(exit) => exit,
    }
}

fn usage(message: String, help: &str) -> Exit {
    eprintln!("error: {message}\nhelp: {help}");
    Exit::Usage
}

fn plan(args: &OracleArgs) -> Result<(Config, Vec<Target>), Exit> {
    let (_, config) = crate::load_config(&args.config, args.profile.as_deref())?;
    if (args.source.is_some() || args.out.is_some() || args.save_hf.is_some())
        && args.models.len() != 1
    {
        return Err(usage(
            "--source, --out and --save-hf apply to one model".into(),
            "name exactly one model: `tmgt oracle NAME --source PATH`",
        ));
    }
    let names: Vec<String> = if args.models.is_empty() {
        config
            .models
            .iter()
            .filter(|m| m.local_dir().is_some())
            .map(|m| m.name.clone())
            .collect()
    } else {
        args.models.clone()
    };
    // The named rungs' files are made first: they are the oracles' sources.
    let rungs: Vec<_> = config
        .rungs
        .iter()
        .filter(|r| names.contains(&r.model) && args.source.is_none())
        .cloned()
        .collect();
    crate::ladder::ensure_all(&rungs).map_err(|e| {
        eprintln!("error: {e}\nhelp: {}", e.help());
        Exit::Harness
    })?;
    let mut targets = Vec::new();
    for name in names {
        let entry = config.models.iter().find(|m| m.name == name);
        let rung_file = entry
            .filter(|m| m.rung.is_some())
            .and_then(|m| m.provided.clone());
        let source = match (&args.source, entry.map(|m| &m.source)) {
            (Some(path), _) => crate::absolute(path),
            (None, _) if rung_file.is_some() => rung_file.clone().unwrap_or_default(),
            (None, Some(ModelSource::Local { dir })) => dir.clone(),
            (None, Some(ModelSource::Hub { id })) => {
                return Err(usage(
                    format!("`{name}` is the hub model {id}; tmgt cannot download it"),
                    "give your local copy: `tmgt oracle NAME --source /path/to/folder`",
                ));
            }
            (None, None) => {
                return Err(usage(
                    format!(
                        "`{name}` is not a model of profile `{}` in {}",
                        config.profile,
                        config.file.display()
                    ),
                    "name a configured model, or give --source PATH and --out DIR for another",
                ));
            }
        };
        let out = match (&args.out, entry) {
            (Some(out), _) => crate::absolute(out),
            (None, Some(m)) => m.oracle_dir.clone(),
            (None, None) => {
                return Err(usage(
                    format!("`{name}` is not configured, so tmgt does not know its oracle folder"),
                    "give --out DIR",
                ));
            }
        };
        if !source.exists() {
            return Err(usage(
                format!("{} does not exist", source.display()),
                "give an HF folder (config.json, model.safetensors, tokenizer.json) or a .gguf file",
            ));
        }
        let model_id = args
            .model_id
            .clone()
            .or_else(|| recorded_model_id(&out))
            .unwrap_or_else(|| match entry.map(|m| &m.source) {
                Some(ModelSource::Hub { id }) => id.clone(),
                _ => format!("local/{name}"),
            });
        targets.push(Target {
            name,
            model_id,
            source,
            out,
            configured: entry.map(|m| m.oracle_dir.clone()),
            rung: rung_file.is_some() && args.source.is_none(),
            chat_templates: entry.map(|m| m.chat_templates.clone()).unwrap_or_default(),
            penalties: entry.map(|m| m.penalties.clone()).unwrap_or_default(),
        });
    }
    if targets.is_empty() {
        return Err(usage(
            format!("profile `{}` has no local model", config.profile),
            "name the models to make oracles for",
        ));
    }
    Ok((config, targets))
}

fn make_all(args: &OracleArgs, config: &Config, targets: &[Target]) -> Result<Exit, Exit> {
    let python = args
        .python
        .clone()
        .unwrap_or_else(oracle_env::default_python);
    let env = oracle_env::ensure(&python).map_err(|e| {
        eprintln!("error: {e}\nhelp: {}", e.help());
        Exit::Harness
    })?;
    let mut exit = Exit::Ok;
    for target in targets {
        let outcome = if args.check {
            check_one(args, config, &env, target)?
        } else {
            make_one(args, config, &env, target, &target.out)?
        };
        if outcome != Exit::Ok {
            exit = outcome;
        }
    }
    Ok(exit)
}

/// Makes one model's oracles into `out`. A GGUF is converted to an HF folder first and the
/// folder held against the file (what the conversion lost is restored from the file); the
/// oracles are made in a staging folder, heard by llama.cpp on the same weights, and installed
/// only when tmgt can vouch for them, or with `--force` (the reasons then go into their
/// provenance).
fn make_one(
    args: &OracleArgs,
    config: &Config,
    env: &OracleEnv,
    target: &Target,
    out: &Path,
) -> Result<Exit, Exit> {
    let mut reasons = Vec::new();
    let mut vouching = serde_json::Map::new();
    // A rung's dequantized folder is only a step to its oracles: made beside them, removed after.
    let scratch =
        (target.rung && args.save_hf.is_none()).then(|| staging_folder(out).with_extension("hf"));
    let made = make_from(
        args,
        config,
        env,
        target,
        out,
        scratch.as_deref(),
        &mut reasons,
        &mut vouching,
    );
    if let Some(scratch) = &scratch {
        let _ = std::fs::remove_dir_all(scratch);
    }
    made
}

/// [`make_one`]'s work, `scratch` being the folder a rung's GGUF is dequantized into.
#[allow(clippy::too_many_arguments)]
fn make_from(
    args: &OracleArgs,
    config: &Config,
    env: &OracleEnv,
    target: &Target,
    out: &Path,
    scratch: Option<&Path>,
    reasons: &mut Vec<String>,
    vouching: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<Exit, Exit> {
    let mut add_bos = None;
    let folder = if target.source.extension().is_some_and(|e| e == "gguf") {
        let folder = args
            .save_hf
            .as_deref()
            .map(crate::absolute)
            .or_else(|| scratch.map(Path::to_path_buf))
            .ok_or_else(|| {
                usage(
                    format!("{}: a GGUF source needs --save-hf DIR", target.source.display()),
                    "give --save-hf DIR: the float32 HF folder the oracles are made from and apr imports",
                )
            })?;
        // What transformers derives besides the weights, held against the file first: a lost
        // field can change the shapes the weights are loaded into.
        let mut derive = generator(config, env, target, &target.source, out)?;
        derive.arg("--save-hf").arg(&folder).arg("--derive-only");
        run_script(env, derive, "the GGUF conversion")?;
        let derived = vouch_folder(target, &folder)?;
        let mut convert = generator(config, env, target, &target.source, out)?;
        convert.arg("--save-hf").arg(&folder).arg("--convert-only");
        if !derived.restored.is_empty() {
            convert.arg("--config").arg(&folder);
        }
        run_script(env, convert, "the GGUF conversion")?;
        let converted = vouch_folder(target, &folder)?;
        let restored: Vec<&String> = derived.restored.iter().chain(&converted.restored).collect();
        if !restored.is_empty() {
            vouching.insert("restored".into(), serde_json::json!(restored));
        }
        eprintln!(
            "oracle: {}: {} behaviour fields of the HF model transformers derived held against \
             {}: {} restored from the file, {} still differ",
            target.name,
            converted.compared(),
            target.source.display(),
            restored.len(),
            converted.disagreements().count()
        );
        reasons.extend(converted.disagreements().map(|field| {
            format!(
                "the HF model transformers derived from the file disagrees with it on {}: {}",
                field.field, field.said
            )
        }));
        add_bos = bos_override(target, &converted);
        folder
    } else {
        target.source.clone()
    };
    let staging = staging_folder(out);
    let _ = std::fs::remove_dir_all(&staging);
    let made = make_in(
        args,
        config,
        env,
        target,
        &folder,
        &staging,
        add_bos,
        std::mem::take(reasons),
        std::mem::take(vouching),
    );
    let installed = match made {
        Ok(true) => install(&staging, out, args.replace).map(Some),
        Ok(false) => Ok(None),
        Err(exit) => Err(exit),
    };
    let _ = std::fs::remove_dir_all(&staging);
    let Some(exit) = installed? else {
        return Ok(Exit::ChecksFailed);
    };
    if let Some(ids) = stage_ids(args, target)? {
        make_stages(env, &folder, out, &ids)?;
    }
    Ok(exit)
}

/// Holds the folder transformers derived from the GGUF against the file and restores what it
/// can, saying what it restored.
fn vouch_folder(target: &Target, folder: &Path) -> Result<checks_metadata::Vouching, Exit> {
    let held = checks_metadata::vouch_derived_folder(folder, &target.source).map_err(|e| {
        eprintln!(
            "error: cannot hold {} against {}: {e}",
            folder.display(),
            target.source.display()
        );
        Exit::Harness
    })?;
    for line in &held.restored {
        eprintln!("oracle: {}: restored from the file: {line}", target.name);
    }
    Ok(held)
}

/// The BOS policy to give the generator: the file's, where it differs from the derived
/// tokenizer's (which the generator follows otherwise).
fn bos_override(target: &Target, held: &checks_metadata::Vouching) -> Option<bool> {
    let differs = held
        .fields
        .iter()
        .any(|f| f.field == "AddBos" && f.standing == checks_metadata::Standing::Differs);
    held.file_adds_bos.filter(|_| differs).inspect(|adds| {
        eprintln!(
            "oracle: {}: the file {} a BOS and the derived tokenizer {}; the oracles follow \
             the file, and the other variant stays recorded",
            target.name,
            if *adds { "adds" } else { "adds no" },
            if *adds { "does not" } else { "does" }
        );
    })
}

/// Makes the oracles into `staging` and decides whether tmgt vouches for them: `Ok(true)` to
/// install them (with `--force` whatever the reasons), `Ok(false)` when refused.
#[allow(clippy::too_many_arguments)]
fn make_in(
    args: &OracleArgs,
    config: &Config,
    env: &OracleEnv,
    target: &Target,
    folder: &Path,
    staging: &Path,
    add_bos: Option<bool>,
    mut reasons: Vec<String>,
    mut vouching: serde_json::Map<String, serde_json::Value>,
) -> Result<bool, Exit> {
    let mut command = generator(config, env, target, folder, staging)?;
    if let Some(adds) = add_bos {
        command
            .args(["--add-bos", if adds { "true" } else { "false" }])
            .args([
                "--add-bos-from",
                "the GGUF's tokenizer.ggml.add_bos_token, as llama.cpp reads it",
            ]);
    }
    eprintln!(
        "oracle: {} from {} into {}",
        target.name,
        target.source.display(),
        staging.display()
    );
    let (_, status) = run_script(env, command, "the oracle generator")?;
    if !status.success() {
        eprintln!("error: the oracle generator exited with {status}");
        return Err(Exit::Harness);
    }
    warn_degenerate(config, staging);
    if let Some(long) = config.long.as_ref().filter(|_| !target.rung) {
        make_long(
            env,
            target,
            folder,
            &staging.join(tmgt_oracle::LONG_DIR),
            long,
            config.max_new_tokens,
        )?;
    }
    if let Some(chat) = config
        .chat
        .as_ref()
        .filter(|_| !target.chat_templates.is_empty())
    {
        make_chat(
            env,
            target,
            folder,
            &staging.join(tmgt_oracle::CHAT_DIR),
            chat,
        )?;
    }
    if !target.penalties.is_empty() {
        make_penalties(
            env,
            target,
            folder,
            &staging.join(tmgt_oracle::SAMPLING_DIR),
            config,
        )?;
    }
    let long_made = staging.join(tmgt_oracle::LONG_DIR).is_dir();
    let prompts: Vec<String> = config.prompts.iter().map(|p| p.name.clone()).collect();
    if let Some(file) = second_voice_file(args, config, target) {
        match crate::oracle_vouch::second_voice(&file, staging, &prompts) {
            Ok(voice) => {
                eprintln!(
                    "oracle: {}: llama.cpp on {} over {} prompt ids and tokens: {} prompts \
                     encoded otherwise, {} confident departures, {} at near-ties (margin up to {})",
                    target.name,
                    file.display(),
                    voice.compared,
                    voice.encodings.len(),
                    voice.departures.len(),
                    voice.near_ties.len(),
                    crate::oracle_vouch::SECOND_VOICE_MARGIN
                );
                if let Some((oracle, llama)) = voice.perplexity {
                    eprintln!(
                        "oracle: {}: the evaluation text's perplexity: {oracle:.3} (the oracle), \
                         {llama:.3} (llama.cpp on the same ids)",
                        target.name
                    );
                }
                for line in &voice.near_ties {
                    eprintln!("oracle: {}: near-tie: {line}", target.name);
                }
                reasons.extend(voice.encodings.iter().cloned());
                reasons.extend(voice.departures.iter().cloned());
                if staging.join(tmgt_oracle::CHAT_DIR).is_dir() {
                    match crate::oracle_vouch::chat_voice(&file, staging) {
                        Ok(chat) => {
                            eprintln!(
                                "oracle: {}: llama.cpp on the chat oracles over {} ids and \
                                 tokens: {} conversations encoded otherwise, {} departures, {} \
                                 at near-ties",
                                target.name,
                                chat.compared,
                                chat.encodings.len(),
                                chat.departures.len(),
                                chat.near_ties.len()
                            );
                            for line in &chat.near_ties {
                                eprintln!("oracle: {}: near-tie: {line}", target.name);
                            }
                            reasons.extend(chat.encodings);
                            reasons.extend(chat.departures);
                        }
                        Err(e) => eprintln!(
                            "warning: {}: no second voice on the chat oracles: {e}",
                            target.name
                        ),
                    }
                }
                if long_made {
                    match crate::oracle_vouch::long_voice(&file, staging) {
                        Ok(long) => {
                            eprintln!(
                                "oracle: {}: llama.cpp on the long-context oracles over {} ids \
                                 and tokens: {} prompts encoded otherwise, {} departures, {} at \
                                 near-ties",
                                target.name,
                                long.compared,
                                long.encodings.len(),
                                long.departures.len(),
                                long.near_ties.len()
                            );
                            for line in &long.near_ties {
                                eprintln!("oracle: {}: near-tie: {line}", target.name);
                            }
                            reasons.extend(long.encodings);
                            reasons.extend(long.departures);
                        }
                        Err(e) => eprintln!(
                            "warning: {}: no second voice on the long-context oracles: {e}",
                            target.name
                        ),
                    }
                }
            }
            Err(e) => eprintln!(
                "warning: {}: no second voice: {e}; the oracle is not held against llama.cpp",
                target.name
            ),
        }
    }
    if !reasons.is_empty() {
        for reason in &reasons {
            eprintln!("oracle: {}: cannot vouch: {reason}", target.name);
        }
        // Checking committed oracles written with --force: the same reasons, recorded in
        // their provenance, let the rerun through, so it is graded like any other.
        let forced_before = (args.check && recorded_forced(&target.out) == Some(reasons.clone()))
            .then(|| {
                eprintln!(
                    "oracle: {}: the committed oracles were written past the same {} reasons \
                     (`vouching.forced` in their provenance)",
                    target.name,
                    reasons.len()
                );
            })
            .is_some();
        if !args.force && !forced_before {
            eprintln!(
                "error: tmgt oracle refuses to write {}'s oracles: {} reasons above\nhelp: fix \
                 how the model is loaded, or keep them anyway with --force (the reasons are then \
                 recorded in their provenance as `vouching.forced`)",
                target.name,
                reasons.len()
            );
            return Ok(false);
        }
        vouching.insert("forced".into(), serde_json::json!(reasons));
    }
    let record = |key: &str, value: serde_json::Value| {
        crate::oracle_vouch::record_in_provenance(staging, key, &value).map_err(|e| {
            eprintln!("error: cannot record the {key}: {e}");
            Exit::Harness
        })
    };
    if !vouching.is_empty() {
        record("vouching", serde_json::Value::Object(vouching))?;
    }
    if target.rung {
        // The key that ties a rung's oracles to the very file they ran.
        let sha = tmgt_oracle::sha256_file(&target.source).map_err(|e| {
            eprintln!("error: cannot hash {}: {e}", target.source.display());
            Exit::Harness
        })?;
        record("source_gguf_sha256", sha.into())?;
    }
    Ok(true)
}

/// Runs the long-context oracle for one model's HF folder into `out`.
fn make_long(
    env: &OracleEnv,
    target: &Target,
    folder: &Path,
    out: &Path,
    long: &crate::config::LongText,
    max_new_tokens: u32,
) -> Result<(), Exit> {
    let mut command = script(env, &env.long, target, folder, out);
    command
        .arg("--text")
        .arg(&long.text)
        .arg("--max-new-tokens")
        .arg(max_new_tokens.to_string());
    for prefix in &long.prefixes {
        command.arg("--prefix").arg(prefix.to_string());
    }
    for position in &long.positions {
        command.arg("--position").arg(position.to_string());
    }
    let (summary, status) = run_script(env, command, "the long-context oracle")?;
    if !status.success() {
        eprintln!("error: the long-context oracle exited with {status}");
        return Err(Exit::Harness);
    }
    eprintln!(
        "oracle: {}: long text of {} tokens, context {}: prefixes {} and positions {} \
         continued, {} tokens scored",
        target.name,
        summary["text_tokens"],
        summary["context"],
        summary["prefixes"],
        summary["positions"],
        summary["nll_tokens"]
    );
    Ok(())
}

/// Runs the chat oracle for one model's HF folder into `out`: every conversation through
/// every template of the model's entry.
fn make_chat(
    env: &OracleEnv,
    target: &Target,
    folder: &Path,
    out: &Path,
    chat: &crate::config::ChatSetup,
) -> Result<(), Exit> {
    let mut command = script(env, &env.chat, target, folder, out);
    command
        .arg("--conversations")
        .arg(&chat.conversations)
        .arg("--max-new-tokens")
        .arg(chat.max_new_tokens.to_string());
    for template in &target.chat_templates {
        let mut spec = OsString::from(format!("{}=", template.name));
        spec.push(&template.file);
        command.arg("--template").arg(spec);
    }
    let (summary, status) = run_script(env, command, "the chat oracle")?;
    if !status.success() {
        eprintln!("error: the chat oracle exited with {status}");
        return Err(Exit::Harness);
    }
    eprintln!(
        "oracle: {}: conversations rendered and continued per template: {}",
        target.name, summary["templates"]
    );
    Ok(())
}

/// Runs the repetition-penalty oracle for one model's HF folder into `out`: every prompt at
/// every penalty of the model's entry.
fn make_penalties(
    env: &OracleEnv,
    target: &Target,
    folder: &Path,
    out: &Path,
    config: &Config,
) -> Result<(), Exit> {
    let mut command = script(env, &env.penalty, target, folder, out);
    command
        .arg("--max-new-tokens")
        .arg(config.max_new_tokens.to_string());
    for penalty in &target.penalties {
        command.arg("--penalty").arg(penalty.to_string());
    }
    push_prompts(&mut command, config)?;
    let (summary, status) = run_script(env, command, "the repetition-penalty oracle")?;
    if !status.success() {
        eprintln!("error: the repetition-penalty oracle exited with {status}");
        return Err(Exit::Harness);
    }
    eprintln!(
        "oracle: {}: prompts continued with repetition penalties {}",
        target.name, summary["penalties"]
    );
    Ok(())
}

/// The GGUF llama.cpp runs as the second voice: the source itself, or llama.cpp's own
/// conversion of the configured model's folder (`native/<model>/f32.gguf`) where it exists.
fn second_voice_file(args: &OracleArgs, config: &Config, target: &Target) -> Option<PathBuf> {
    if target.source.extension().is_some_and(|e| e == "gguf") {
        return Some(target.source.clone());
    }
    let native = config.native_dir.join(&target.name).join("f32.gguf");
    (args.source.is_none() && native.is_file()).then_some(native)
}

/// `python SCRIPT --model MODEL --slug NAME --model-id ID --out OUT`: what every oracle script
/// of a model takes first.
fn script(env: &OracleEnv, script: &Path, target: &Target, model: &Path, out: &Path) -> Command {
    let mut command = Command::new(&env.python);
    command
        .arg(script)
        .arg("--model")
        .arg(model)
        .args(["--slug", &target.name, "--model-id", &target.model_id])
        .arg("--out")
        .arg(out);
    command
}

/// `--prompt NAME=FILE` for every prompt of the run.
fn push_prompts(command: &mut Command, config: &Config) -> Result<(), Exit> {
    for prompt in &config.prompts {
        let file = config.prompt_files.get(&prompt.name).ok_or_else(|| {
            eprintln!("error: prompt `{}` has no file", prompt.name);
            Exit::Harness
        })?;
        let mut spec = OsString::from(format!("{}=", prompt.name));
        spec.push(file);
        command.arg("--prompt").arg(spec);
    }
    Ok(())
}

/// The generator's command for `model` (a GGUF or an HF folder) into `out`.
fn generator(
    config: &Config,
    env: &OracleEnv,
    target: &Target,
    model: &Path,
    out: &Path,
) -> Result<Command, Exit> {
    let root = config.file.parent().unwrap_or(Path::new("/"));
    let mut command = script(env, &env.generator, target, model, out);
    command
        .arg("--max-new-tokens")
        .arg(config.max_new_tokens.to_string())
        .arg("--eval-text")
        .arg(&config.eval_text)
        .arg("--eval-text-label")
        .arg(relative_label(&config.eval_text, root));
    push_prompts(&mut command, config)?;
    Ok(command)
}

/// A fresh folder beside `out` (so installing is a rename on one file system).
fn staging_folder(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "oracle".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.staging-{}", std::process::id()))
}

/// Moves the staged files into `out`. A prompt oracle already there whose tokens differ from
/// the new one is kept (each differing step reported with the new oracle's margin) unless
/// `replace`; `Exit::ChecksFailed` when one was kept.
fn install(staging: &Path, out: &Path, replace: bool) -> Result<Exit, Exit> {
    let fail = |what: &str, path: &Path, e: std::io::Error| {
        eprintln!("error: cannot {what} {}: {e}", path.display());
        Exit::Harness
    };
    std::fs::create_dir_all(out).map_err(|e| fail("make", out, e))?;
    let mut names: Vec<String> = std::fs::read_dir(staging)
        .map_err(|e| fail("read", staging, e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut kept = 0;
    for name in names {
        let (from, to) = (staging.join(&name), out.join(&name));
        if from.is_dir() {
            // The long-context oracles, installed by the same rule.
            if install(&from, &to, replace)? != Exit::Ok {
                kept += 1;
            }
            continue;
        }
        if let Some(stem) = name
            .strip_suffix(".json")
            .filter(|_| to.exists() && !replace)
        {
            if let (Ok(old), Ok(new)) = (
                tmgt_oracle::load(out, stem),
                tmgt_oracle::load(staging, stem),
            ) {
                if old.tokens != new.tokens {
                    report_kept(&to, &old, &new);
                    kept += 1;
                    continue;
                }
            }
        }
        std::fs::rename(&from, &to).map_err(|e| fail("write", &to, e))?;
    }
    Ok(if kept > 0 {
        Exit::ChecksFailed
    } else {
        Exit::Ok
    })
}

fn report_kept(path: &Path, old: &tmgt_oracle::Oracle, new: &tmgt_oracle::Oracle) {
    eprintln!(
        "oracle: {}: the committed tokens differ from this environment's; kept it (--replace \
         overwrites):",
        path.display()
    );
    let steps = new.steps.as_deref().unwrap_or_default();
    for step in 0..old.tokens.len().max(new.tokens.len()) {
        let (a, b) = (old.tokens.get(step), new.tokens.get(step));
        if a != b {
            let show = |t: Option<&u32>| t.map_or_else(|| "none".into(), u32::to_string);
            let margin = steps
                .get(step)
                .map_or_else(|| "unknown".into(), |s| s.margin.to_string());
            eprintln!(
                "  step {step}: committed {} computed {} (margin {margin})",
                show(a),
                show(b)
            );
        }
    }
}

/// Warns about each continuation just written that no working model writes (one token over
/// and over, a short loop): evidence that the oracle ran with a wrong setting.
fn warn_degenerate(config: &Config, out: &Path) {
    for prompt in &config.prompts {
        let Ok(oracle) = tmgt_oracle::load(out, &prompt.name) else {
            continue;
        };
        let bos = oracle
            .bos
            .as_ref()
            .map(|b| ("BOS-prefixed ", &b.tokens, &b.text));
        let plain = ("", &oracle.tokens, &oracle.text);
        for (which, tokens, text) in std::iter::once(plain).chain(bos) {
            if let Some(why) = tmgt_oracle::degenerate(tokens) {
                eprintln!(
                    "warning: {}: the {which}continuation looks degenerate ({why}): {text:?}; \
                     a working model does not write this, so check how the model was loaded \
                     (a RoPE base or BOS lost in conversion) before trusting this oracle",
                    oracle.path.display()
                );
            }
        }
    }
}

/// Runs the stage oracle for one model's HF folder into `out`.
fn make_stages(env: &OracleEnv, folder: &Path, out: &Path, ids: &[u32]) -> Result<(), Exit> {
    let list: Vec<String> = ids.iter().map(u32::to_string).collect();
    let mut command = Command::new(&env.python);
    command
        .arg(&env.stages)
        .arg("--model")
        .arg(folder)
        .arg("--out")
        .arg(out)
        .arg("--ids")
        .arg(list.join(","));
    let (_, status) = run_script(env, command, "the stage oracle")?;
    if !status.success() {
        eprintln!("error: the stage oracle exited with {status}");
        return Err(Exit::Harness);
    }
    Ok(())
}

/// Runs one of the environment's scripts and reads the JSON summary it prints; a summary
/// holding `error` is the script's refusal, told as a usage error.
fn run_script(
    env: &OracleEnv,
    mut command: Command,
    what: &str,
) -> Result<(serde_json::Value, std::process::ExitStatus), Exit> {
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            eprintln!("error: cannot run {}: {e}", env.python.display());
            Exit::Harness
        })?;
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        eprintln!(
            "error: {what} exited with {} without a summary ({e})",
            output.status
        );
        Exit::Harness
    })?;
    if let Some(message) = summary.get("error").and_then(|e| e.as_str()) {
        eprintln!("error: {message}");
        return Err(Exit::Usage);
    }
    Ok((summary, output.status))
}

/// The ids to make stages for: those given, else those the stages in the output folder
/// record, else those of the configured folder's stages.
fn stage_ids(args: &OracleArgs, target: &Target) -> Result<Option<Vec<u32>>, Exit> {
    if let Some(ids) = &args.stage_ids {
        return Ok(Some(ids.clone()));
    }
    for dir in std::iter::once(&target.out).chain(&target.configured) {
        match tmgt_oracle::load_stages(dir) {
            Ok(Some(stages)) => return Ok(Some(stages.ids)),
            Ok(None) => {}
            Err(e) => {
                eprintln!("error: {e}\nhelp: give the ids again with --stage-ids");
                return Err(Exit::Usage);
            }
        }
    }
    Ok(None)
}

/// Makes the oracles in scratch and compares them with the committed folder.
fn check_one(
    args: &OracleArgs,
    config: &Config,
    env: &OracleEnv,
    target: &Target,
) -> Result<Exit, Exit> {
    let scratch = std::env::temp_dir().join(format!(
        "tmgt-oracle-check-{}-{}",
        std::process::id(),
        target.name
    ));
    let _ = std::fs::remove_dir_all(&scratch);
    let made = make_one(args, config, env, target, &scratch);
    let grades = made.map(|_| grade_folders(&target.out, &scratch));
    let _ = std::fs::remove_dir_all(&scratch);
    let grades = grades?;
    let identical = grades
        .iter()
        .filter(|(_, g)| *g == Grade::Identical)
        .count();
    for (file, grade) in grades.iter().filter(|(_, g)| *g != Grade::Identical) {
        eprintln!("oracle: {}: {file}: {grade}", target.name);
    }
    let differing = grades
        .iter()
        .filter(|(_, g)| matches!(g, Grade::Differs { .. }))
        .count();
    if differing > 0 {
        eprintln!(
            "oracle: {}: {differing} of {} files of {} differ from a rerun",
            target.name,
            grades.len(),
            target.out.display()
        );
        Ok(Exit::ChecksFailed)
    } else if identical == grades.len() {
        eprintln!(
            "oracle: {}: every file of {} reproduced byte for byte",
            target.name,
            target.out.display()
        );
        Ok(Exit::Ok)
    } else {
        eprintln!(
            "oracle: {}: every file of {} reproduced: {identical} byte for byte, {} equivalent \
             (the same tokens, ids and stops; floats within {FLOAT_TOLERANCE:e}, relative above \
             1)",
            target.name,
            target.out.display(),
            grades.len() - identical
        );
        Ok(Exit::Ok)
    }
}

/// Every file of either folder (and of its long-context, chat and sampling folders) with its
/// grade: a file on one side only differs. Other folders inside (a model's ladder rungs, made from files of their
/// own) are not the model's oracles.
fn grade_folders(committed: &Path, made: &Path) -> Vec<(String, Grade)> {
    let files = |dir: &Path, prefix: &str| -> Vec<String> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .map(|e| format!("{prefix}{}", e.file_name().to_string_lossy()))
            .collect()
    };
    let names = |dir: &Path| -> Vec<String> {
        let mut names = files(dir, "");
        let long = tmgt_oracle::LONG_DIR;
        names.extend(files(&dir.join(long), &format!("{long}/")));
        // The chat and sampling oracles, one folder per template or penalty.
        for kind in [tmgt_oracle::CHAT_DIR, tmgt_oracle::SAMPLING_DIR] {
            for sub in std::fs::read_dir(dir.join(kind))
                .into_iter()
                .flatten()
                .flatten()
            {
                let sub_name = sub.file_name().to_string_lossy().into_owned();
                names.extend(files(&sub.path(), &format!("{kind}/{sub_name}/")));
            }
        }
        names
    };
    let mut all = names(committed);
    all.extend(names(made));
    all.sort();
    all.dedup();
    all.into_iter()
        .map(|name| {
            let grade = match (
                std::fs::read(committed.join(&name)),
                std::fs::read(made.join(&name)),
            ) {
                (Ok(a), Ok(b)) => tmgt_oracle::grade(&name, &a, &b),
                (Ok(_), Err(_)) => Grade::Differs {
                    first: "committed, not remade".into(),
                },
                (Err(_), _) => Grade::Differs {
                    first: "remade, not committed".into(),
                },
            };
            (name, grade)
        })
        .collect()
}

/// The reasons the folder's prompt oracles record as `vouching.forced`: what llama.cpp said
/// against them when they were written with `--force`.
fn recorded_forced(oracle_dir: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(oracle_dir.join("perplexity.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let forced = json.get("provenance")?.get("vouching")?.get("forced")?;
    serde_json::from_value(forced.clone()).ok()
}

/// The `model` field the folder's oracles already record, so a regeneration keeps it.
fn recorded_model_id(oracle_dir: &Path) -> Option<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(oracle_dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files.into_iter().find_map(|file| {
        let text = std::fs::read_to_string(file).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json.get("model")?.as_str().map(str::to_string)
    })
}

/// `path` relative to `root` where it lies inside it, as the oracles record it.
fn relative_label(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
