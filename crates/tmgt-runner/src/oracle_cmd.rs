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
    let mut targets = Vec::new();
    for name in names {
        let entry = config.models.iter().find(|m| m.name == name);
        let source = match (&args.source, entry.map(|m| &m.source)) {
            (Some(path), _) => crate::absolute(path),
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

/// Runs the generator for one model into `out`.
fn make_one(
    args: &OracleArgs,
    config: &Config,
    env: &OracleEnv,
    target: &Target,
    out: &Path,
) -> Result<Exit, Exit> {
    let root = config.file.parent().unwrap_or(Path::new("/"));
    let mut command = Command::new(&env.python);
    command
        .arg(&env.generator)
        .arg("--model")
        .arg(&target.source)
        .args(["--slug", &target.name, "--model-id", &target.model_id])
        .arg("--out")
        .arg(out)
        .arg("--max-new-tokens")
        .arg(config.max_new_tokens.to_string())
        .arg("--eval-text")
        .arg(&config.eval_text)
        .arg("--eval-text-label")
        .arg(relative_label(&config.eval_text, root));
    for prompt in &config.prompts {
        let file = config.prompt_files.get(&prompt.name).ok_or_else(|| {
            eprintln!("error: prompt `{}` has no file", prompt.name);
            Exit::Harness
        })?;
        let mut spec = OsString::from(format!("{}=", prompt.name));
        spec.push(file);
        command.arg("--prompt").arg(spec);
    }
    if let Some(dir) = &args.save_hf {
        command.arg("--save-hf").arg(crate::absolute(dir));
    }
    if args.replace {
        command.arg("--replace");
    }
    eprintln!(
        "oracle: {} from {} into {}",
        target.name,
        target.source.display(),
        out.display()
    );
    let (summary, status) = run_script(env, command, "the oracle generator")?;
    print_differences(&summary);
    let exit = match status.code() {
        Some(0) => Exit::Ok,
        Some(1) => Exit::ChecksFailed,
        _ => {
            eprintln!("error: the oracle generator exited with {status}");
            return Err(Exit::Harness);
        }
    };
    warn_degenerate(config, out);
    if let Some(ids) = stage_ids(args, target)? {
        let folder = match &args.save_hf {
            Some(dir) => crate::absolute(dir),
            None => target.source.clone(),
        };
        make_stages(env, &folder, out, &ids)?;
    }
    Ok(exit)
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

/// Every file of either folder with its grade: a file on one side only differs.
fn grade_folders(committed: &Path, made: &Path) -> Vec<(String, Grade)> {
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
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

fn print_differences(summary: &serde_json::Value) {
    let Some(differences) = summary.get("differences").and_then(|d| d.as_array()) else {
        return;
    };
    for diff in differences {
        let file = diff.get("file").and_then(|f| f.as_str()).unwrap_or("?");
        eprintln!("oracle: {file}: the committed tokens differ from this environment's:");
        for step in diff
            .get("steps")
            .and_then(|s| s.as_array())
            .into_iter()
            .flatten()
        {
            eprintln!(
                "  step {}: committed {} computed {} (margin {})",
                step["step"], step["committed"], step["computed"], step["margin"]
            );
        }
    }
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
