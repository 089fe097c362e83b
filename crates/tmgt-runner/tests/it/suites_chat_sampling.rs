//! The `chat` and `sampling` suites through the built `tmgt` and the real apr: what apr 0.72.3
//! does with templated conversations and with its sampler, and every sampling check failing on
//! a scripted fake apr that drops the sampling flags (a fault the real one cannot be made to
//! show on demand).

use crate::common;
use common::{real_apr, repo_root, run_report};
use serde_json::Value;

fn results(report: &Value) -> Vec<Value> {
    report["results"].as_array().unwrap().clone()
}

fn of<'a>(results: &'a [Value], code: &str, model: &str) -> Vec<&'a Value> {
    results
        .iter()
        .filter(|r| r["code"] == code && r["model"] == model)
        .collect()
}

fn message(r: &Value) -> &str {
    r["message"].as_str().unwrap_or_default()
}

/// The departures a result lists in its facts.
fn departures(r: &Value) -> Vec<&str> {
    r["details"]["departures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect()
}

/// Runs `filter` at the repository root with a scripted fake apr of `script`'s text (its
/// first lines say what it changes), returning the results.
fn with_fake_apr(name: &str, script: &str, filter: &str) -> (i32, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join(name);
    std::fs::write(&fake, script).unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let fake_arg = fake.display().to_string();
    let (code, report) = run_report(&repo_root(), &["--apr", &fake_arg, "--filter", filter]);
    (code, results(&report))
}

#[test]
fn the_chat_and_sampling_suites_on_the_bundled_models() {
    let (_, report) = run_report(&repo_root(), &["--filter", "suite=chat|sampling"]);
    let results = results(&report);
    for r in &results {
        if r["verdict"] == "pass" || r["verdict"] == "fail" {
            assert!(r["evidence"]["count"].as_u64().unwrap() > 0, "{r}");
        }
    }
    // The nine published templates render on tiny-qwen2 as HF renders them; the one with a
    // `{% break %}` makes apr fall back to its built-in template, which the check names.
    let rendered = of(&results, "CHT001", "tiny-qwen2")[0];
    assert_eq!(rendered["verdict"], "fail", "{rendered}");
    assert!(
        message(rendered).starts_with("8 of 80 conversations"),
        "{rendered}"
    );
    let conversations = rendered["details"]["conversations"].as_array().unwrap();
    for c in conversations {
        let template = c["case"].as_str().unwrap().split('/').next().unwrap();
        assert_eq!(c["fallback"].is_string(), template == "chatml-break", "{c}");
        if template != "chatml-break" {
            assert_eq!(c["equal"], true, "{c}");
        }
    }
    assert!(message(rendered).contains("falling back to apr's built-in template"));
    assert_eq!(of(&results, "CHT002", "tiny-qwen2")[0]["verdict"], "pass");
    // --batch-jsonl renders its own ChatML whatever the template: it answers as HF continues
    // a plain ChatML rendering, and not as HF continues Llama 3.1's.
    let batch = of(&results, "CHT004", "tiny-qwen2")[0];
    assert_eq!(batch["verdict"], "fail", "{batch}");
    let answers = batch["details"]["conversations"].as_array().unwrap();
    let equal = |template: &str| {
        answers
            .iter()
            .filter(|c| {
                c["case"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{template}/"))
            })
            .map(|c| c["equal"] == true)
            .collect::<Vec<bool>>()
    };
    assert_eq!(equal("chatml-break"), vec![true; 8], "{batch}");
    assert_eq!(equal("llama-3.1"), vec![false; 8], "{batch}");
    // apr chat, turn by turn with the history it keeps: eight templates give HF's rendering
    // and replies on both turns of both dialogues; SmolLM3's (str.replace), `{% break %}` and
    // Gemma 2's refusal of a system turn make its renderer fall back, which the check names.
    let session = of(&results, "CHT005", "tiny-qwen2")[0];
    assert_eq!(session["verdict"], "fail", "{session}");
    let turns = session["details"]["turns"].as_array().unwrap();
    let outcomes = |template: &str| -> Vec<&str> {
        turns
            .iter()
            .filter(|t| {
                t["turn"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{template}/"))
            })
            .map(|t| t["outcome"].as_str().unwrap())
            .collect()
    };
    for template in [
        "smollm2",
        "qwen2.5",
        "qwen3",
        "phi-3.5",
        "llama-3.1",
        "llama-3.2",
        "mistral-nemo",
    ] {
        assert_eq!(
            outcomes(template),
            vec!["equal"; 4],
            "{template}: {session}"
        );
    }
    assert_eq!(
        outcomes("gemma-2"),
        vec!["refused", "equal", "equal"],
        "{session}"
    );
    let departures = departures(session);
    assert!(
        departures.contains(
            &"smollm3/system-two-turns turn 1: apr feeds 80 ids where HF's rendering has 142; \
              among the first 50: 50 ids where HF has 50; at position 11: \"Y\" (57) where HF \
              has \"#\" (3)"
        ),
        "{departures:#?}"
    );
    assert!(
        departures
            .iter()
            .any(|d| d.starts_with("gemma-2/system-two-turns turn 1: the template refuses")),
        "{departures:#?}"
    );
    // One conversation, four surfaces: the table names the one that departs.
    let surfaces = of(&results, "CHT007", "tiny-qwen2")[0];
    assert_eq!(surfaces["verdict"], "fail", "{surfaces}");
    let table = &surfaces["details"]["table"];
    assert_eq!(table.as_object().unwrap().len(), 60, "{surfaces}");
    for surface in ["apr run --chat", "apr chat", "--batch-jsonl", "apr serve"] {
        assert_eq!(table["phi-3.5/arithmetic"][surface], "hf", "{surfaces}");
    }
    let llama = &table["llama-3.1/code"];
    assert_eq!(llama["--batch-jsonl"], "reply: other text", "{surfaces}");
    assert_eq!(llama["apr run --chat"], "hf", "{surfaces}");
    assert_eq!(llama["apr chat"], "hf", "{surfaces}");
    // SmolLM2's and Llama 3.2's templates on tiny-llama, SmolLM2's on tiny-gpt2: apr run --chat
    // and apr chat render, feed and continue them as HF does.
    for model in ["tiny-llama", "tiny-gpt2"] {
        for code in ["CHT001", "CHT002", "CHT005"] {
            let r = of(&results, code, model)[0];
            assert_eq!(r["verdict"], "pass", "{model} {code}: {r}");
        }
    }
    // A raw prompt is templated through a path naming chat or instruct, except on GPT-2.
    for (model, verdict) in [
        ("tiny-llama", "fail"),
        ("tiny-qwen2", "fail"),
        ("tiny-gpt2", "pass"),
    ] {
        let runs = of(&results, "CHT003", model);
        assert_eq!(runs.len(), 4, "{model}");
        assert!(
            runs.iter().all(|r| r["verdict"] == verdict),
            "{model}: {runs:#?}"
        );
    }
    // apr's sampler keeps every limit, seed, support and distribution on every model, and its
    // repetition penalty is HF's where the model's entry lists penalties.
    for model in ["tiny-llama", "tiny-qwen2", "tiny-gpt2"] {
        for code in ["SMP001", "SMP002", "SMP003", "SMP005"] {
            for r in of(&results, code, model) {
                assert!(
                    r["verdict"] == "pass" || r["verdict"] == "skip",
                    "{model} {code}: {r}"
                );
            }
        }
    }
    let penalty = of(&results, "SMP004", "tiny-qwen2");
    assert_eq!(penalty.len(), 4);
    assert!(
        penalty.iter().all(|r| r["verdict"] == "pass"),
        "{penalty:#?}"
    );
    // --batch-jsonl ignores --seed: two seeds give the same answers, improbably.
    let batch_seeds = of(&results, "SMP007", "tiny-qwen2")[0];
    assert_eq!(batch_seeds["verdict"], "fail", "{batch_seeds}");
    assert!(
        message(batch_seeds).contains("the seed does not reach the batch's sampler"),
        "{batch_seeds}"
    );
    let calibration = of(&results, "SMP005", "tiny-qwen2")[0];
    assert_eq!(
        calibration["details"]["tests"]["sample"], 4096,
        "{calibration}"
    );
    assert!(
        message(calibration).contains("1e-3 over 8 tests"),
        "{calibration}"
    );
}

#[test]
fn every_sampling_check_fails_when_apr_drops_its_sampling_flags() {
    let (code, results) = with_fake_apr(
        "apr-drops-sampling-flags",
        &format!(
            "#!/bin/sh\n# Scripted fake: the real apr with --top-k, --top-p, --seed and \
             --repeat-penalty dropped.\nskip=0\nfor a in \"$@\"; do\n  shift\n  if [ $skip = 1 ]; \
             then skip=0; continue; fi\n  case \"$a\" in\n    --top-k|--top-p|--seed|--repeat-penalty) \
             skip=1; continue;;\n  esac\n  set -- \"$@\" \"$a\"\ndone\nexec {} \"$@\"\n",
            real_apr().display()
        ),
        "suite=sampling model=tiny-qwen2",
    );
    assert_eq!(code, 1);
    for code in ["SMP001", "SMP002", "SMP003", "SMP004", "SMP005"] {
        let failed = of(&results, code, "tiny-qwen2")
            .into_iter()
            .filter(|r| r["verdict"] == "fail")
            .count();
        assert!(failed > 0, "{code} never failed: {results:#?}");
    }
    let seeds = of(&results, "SMP002", "tiny-qwen2");
    assert!(
        seeds
            .iter()
            .any(|r| message(r).contains("the seed does not reach the sampler")),
        "{seeds:#?}"
    );
}

#[test]
fn the_surface_limits_pass_where_top_p_keeps_one_token() {
    // apr chat and --batch-jsonl ignore --top-p, so the real apr cannot show SMP006 passing.
    // Scripted fake: the real apr, with a call at top-p 1e-6 made the greedy call that limit
    // means; every other call goes through untouched.
    let (_, faithful) = with_fake_apr(
        "apr-keeps-top-p",
        &format!(
            "#!/bin/sh\n# Scripted fake: a call at top-p 1e-6 becomes the greedy call it means.\n\
             limit=0\nfor a in \"$@\"; do [ \"$a\" = 0.000001 ] && limit=1; done\n\
             [ $limit = 0 ] && exec {real} \"$@\"\nskip=0; prev=\nfor a in \"$@\"; do\n  shift\n  \
             if [ \"$prev\" = --temperature ]; then set -- \"$@\" 0; prev=$a; continue; fi\n  \
             if [ \"$a\" = --top-p ]; then skip=1; prev=$a; continue; fi\n  \
             if [ $skip = 1 ]; then skip=0; prev=$a; continue; fi\n  \
             set -- \"$@\" \"$a\"; prev=$a\ndone\nexec {real} \"$@\"\n",
            real = real_apr().display()
        ),
        "check=SMP006 model=tiny-qwen2",
    );
    let (_, real) = run_report(&repo_root(), &["--filter", "check=SMP006 model=tiny-qwen2"]);
    let (faithful, real) = (&faithful[0], &results(&real)[0]);
    assert_eq!(faithful["verdict"], "pass", "{faithful}");
    assert_eq!(faithful["evidence"]["count"], 36, "{faithful}");
    // The real apr: both surfaces draw at top-p 1e-6 (8 batch answers, 6 chat replies).
    assert_eq!(real["verdict"], "fail", "{real}");
    let departures = real["details"]["departures"].as_array().unwrap();
    assert_eq!(departures.len(), 14, "{real}");
    assert!(
        departures
            .iter()
            .all(|d| d.as_str().unwrap().contains("temperature 1, top-p 1e-6")),
        "{real}"
    );
}

#[test]
fn apr_serve_is_held_to_hf_on_every_templated_conversation() {
    let (_, report) = run_report(&repo_root(), &["--filter", "check=SRV020"]);
    let results = results(&report);
    // The three default models name chat templates, and apr serve departs on each.
    assert_eq!(results.len(), 3, "{results:#?}");
    assert!(
        results.iter().all(|r| r["verdict"] == "fail"),
        "{results:#?}"
    );
    let served = of(&results, "SRV020", "tiny-qwen2")[0];
    assert_eq!(served["verdict"], "fail", "{served}");
    // 10 templates x (10 conversations + the dialogues' 4 turns), Gemma's refusals included.
    assert!(
        message(served).contains(" of 139 conversations"),
        "{served}"
    );
    let departures = departures(served);
    assert!(
        departures.contains(
            &"gemma-2/system: the template refuses this conversation (HF: System role not \
              supported), apr serve answered 200"
        ),
        "{departures:#?}"
    );
    assert!(
        departures.contains(
            &"smollm2/system: apr serve counts 79 prompt tokens where HF's rendering has 80"
        ),
        "{departures:#?}"
    );
    // Every request is kept with its curl line.
    assert!(
        served["requests"].as_array().unwrap().len() >= 139,
        "{served}"
    );
}

/// A project whose model `planted` (tiny-qwen2's files) names one template: `smollm2`, whose
/// oracles HF rendered, or `smollm2-edited`, the same template with one character changed
/// (`helpful` to `helpfu1` in its default system turn) holding those same oracles, recorded
/// as that template's: apr renders the edited text where HF rendered the original.
fn template_project(template: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for link in ["models", "oracle-ops", "prompts"] {
        std::os::unix::fs::symlink(repo_root().join(link), dir.path().join(link)).unwrap();
    }
    // llama.cpp's conversion of tiny-qwen2, under the planted model's name too.
    std::fs::create_dir(dir.path().join("native")).unwrap();
    for name in ["tiny-qwen2", "planted"] {
        let native = repo_root().join("native/tiny-qwen2");
        std::os::unix::fs::symlink(native, dir.path().join("native").join(name)).unwrap();
    }
    let original = repo_root().join("prompts/chat/templates/smollm2.jinja");
    let text = std::fs::read_to_string(&original).unwrap();
    let edited = text.replacen("helpful", "helpfu1", 1);
    assert_ne!(edited, text);
    std::fs::write(dir.path().join("smollm2-edited.jinja"), &edited).unwrap();
    let digest = |t: &str| tmgt_oracle::sha256_hex(t.as_bytes());
    // The oracle folder: tiny-qwen2's prompt oracles, and its smollm2 chat oracles under both
    // names, the edited name's recording the edited template's digest.
    let oracles = dir.path().join("oracle/planted");
    let from = repo_root().join("oracle/tiny-qwen2");
    let copy = |src: &std::path::Path, dst: &std::path::Path, rewrite: bool| {
        for entry in walk(src) {
            let to = dst.join(entry.strip_prefix(src).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            let mut bytes = std::fs::read_to_string(&entry).unwrap();
            if rewrite {
                bytes = bytes.replace(&digest(&text), &digest(&edited));
            }
            std::fs::write(to, bytes).unwrap();
        }
    };
    for name in ["arithmetic", "code", "completion", "greeting"] {
        std::fs::create_dir_all(&oracles).unwrap();
        std::fs::copy(
            from.join(format!("{name}.json")),
            oracles.join(format!("{name}.json")),
        )
        .unwrap();
    }
    let chat = from.join("chat/smollm2");
    copy(&chat, &oracles.join("chat/smollm2"), false);
    copy(&chat, &oracles.join("chat/smollm2-edited"), true);
    let mut config = std::fs::read_to_string(repo_root().join("suites.toml")).unwrap();
    config = config.replacen(
        "templates = { ",
        "templates = { \"smollm2-edited\" = \"smollm2-edited.jinja\", ",
        1,
    );
    config += &format!(
        "\n[models.planted]\nsource = \"models/tiny-qwen2\"\noracle = \"oracle/planted\"\n\
         quants = [\"f32\"]\nppl_ceiling = 2000.0\nchat_templates = [\"{template}\"]\n\
         \n[profiles.edits]\nmodels = [\"planted\"]\n"
    );
    std::fs::write(dir.path().join("suites.toml"), config).unwrap();
    dir
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_template_edited_by_one_character_fails_every_rendering_check() {
    let filter = "check=CHT001|CHT002|CHT005|CHT007";
    for (template, verdict) in [("smollm2", "pass"), ("smollm2-edited", "fail")] {
        let dir = template_project(template);
        let (_, report) = run_report(dir.path(), &["--profile", "edits", "--filter", filter]);
        let results = results(&report);
        assert_eq!(results.len(), 4, "{template}: {results:#?}");
        for code in ["CHT001", "CHT005"] {
            let r = of(&results, code, "planted")[0];
            assert_eq!(r["verdict"], verdict, "{template} {code}: {r}");
        }
        // apr run --chat and apr chat render the template: HF's prompt on every conversation
        // of the faithful one, another prompt on every one of the edited.
        let surfaces = of(&results, "CHT007", "planted")[0];
        let table = surfaces["details"]["table"].as_object().unwrap();
        assert_eq!(table.len(), 6, "{surfaces}");
        for row in table.values() {
            for surface in ["apr run --chat", "apr chat"] {
                let judged = row[surface].as_str().unwrap();
                if verdict == "pass" {
                    assert_eq!(judged, "hf", "{template} {surface}: {surfaces}");
                } else {
                    assert!(
                        judged.starts_with("prompt: "),
                        "{template} {surface}: {surfaces}"
                    );
                }
            }
        }
        // The continuation is judged only where the ids are HF's: none of the edited ones.
        let continuation = of(&results, "CHT002", "planted")[0];
        let expected = if verdict == "pass" { "pass" } else { "skip" };
        assert_eq!(
            continuation["verdict"], expected,
            "{template}: {continuation}"
        );
    }
}

#[test]
fn the_batch_seed_check_passes_where_the_batch_honours_seeds() {
    // apr run --batch-jsonl ignores --seed, so the real apr cannot show SMP007 passing.
    // Scripted fake: a batch answered line by line through the real `apr run --chat`, which
    // takes the seed; every other call goes to the real apr untouched.
    let (_, results) = with_fake_apr(
        "apr-batch-by-run",
        &format!(
            r#"#!/usr/bin/env python3
# Scripted fake: a --batch-jsonl call answered one line at a time by the real apr run --chat.
import json, subprocess, sys
REAL = {real:?}
args = sys.argv[1:]
if "--batch-jsonl" not in args:
    sys.exit(subprocess.call([REAL] + args))
i = args.index("--batch-jsonl")
lines = open(args[i + 1]).read().splitlines()
rest = args[:i] + args[i + 2:]
for line in lines:
    task = json.loads(line)
    out = subprocess.run([REAL] + rest + ["--chat", "--prompt=" + task["prompt"]],
                         capture_output=True, text=True)
    reply = json.loads(out.stdout)
    print(json.dumps({{"task_id": task["task_id"], "text": reply.get("text", ""),
                      "tokens_generated": reply.get("tokens_generated", 0)}}))
"#,
            real = real_apr().display().to_string()
        ),
        "check=SMP007 model=tiny-qwen2",
    );
    let seeds = &results[0];
    assert_eq!(seeds["verdict"], "pass", "{seeds}");
    assert!(
        message(seeds).starts_with("seed 20261206 repeats its 8 answers and seed 20261207 changes"),
        "{seeds}"
    );
}
