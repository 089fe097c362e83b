//! Every reporter, snapshot-tested on the synthetic run of `common`.

mod common;

use tmgt_report::diff::Diff;
use tmgt_report::matrix::Matrix;
use tmgt_report::{Report, ReportVerdict, html, junit, markdown, ticket};

#[test]
fn the_ledger_turns_known_failures_into_xfail_and_xpass_and_finds_stale_entries() {
    let r = common::report();
    let s = &r.summary;
    assert_eq!(
        (s.pass, s.fail, s.error, s.skip, s.xfail, s.xpass),
        (3, 2, 1, 1, 2, 1)
    );
    assert_eq!(s.stale_known_issues, 1);
    assert_eq!(s.total, r.results.len());
    let statuses: Vec<_> = r
        .known_issues
        .iter()
        .map(|k| (k.matched, k.xfail, k.xpass, k.stale))
        .collect();
    assert_eq!(
        statuses,
        [
            (1, 1, 0, false),
            (1, 0, 1, false),
            (1, 1, 0, false),
            (0, 0, 0, true)
        ]
    );
    assert!(r.failed(), "a fail and an error remain");
    insta::assert_snapshot!(r.ledger_notes().join("\n"));

    // A filtered run does not call an unmatched entry stale.
    let mut filtered = common::raw_report();
    filtered.apply_ledger(&tmgt_report::Ledger::parse(common::LEDGER).unwrap(), false);
    assert_eq!(filtered.summary.stale_known_issues, 0);

    // An entry about a model the run did not cover is out of scope, not stale.
    let elsewhere = format!(
        "{}\n[[issue]]\nselect = \"check=no-such-check model=another-model\"\nlink = \"unfiled\"\nreason = \"x\"\n",
        common::LEDGER
    );
    let mut other_profile = common::raw_report();
    other_profile.apply_ledger(&tmgt_report::Ledger::parse(&elsewhere).unwrap(), true);
    assert_eq!(
        other_profile.summary.stale_known_issues, 1,
        "only `no-such-check` is stale"
    );
}

#[test]
fn xfail_alone_does_not_fail_the_run() {
    let mut r = common::report();
    r.results.retain(|x| !x.verdict.is_problem());
    assert!(!r.failed());
    assert!(r.results.iter().any(|x| x.verdict == ReportVerdict::Xfail));
}

#[test]
fn report_json_round_trips_with_the_new_verdicts() {
    let r = common::report();
    let json = serde_json::to_vec_pretty(&r).unwrap();
    let back = Report::from_json(&json).unwrap();
    assert_eq!(serde_json::to_vec_pretty(&back).unwrap(), json);
    assert!(
        String::from_utf8(json)
            .unwrap()
            .contains("\"verdict\": \"xfail\"")
    );
}

#[test]
fn a_report_from_before_the_ledger_still_reads() {
    let mut v = serde_json::to_value(common::raw_report()).unwrap();
    for key in ["xfail", "xpass", "stale_known_issues"] {
        v["summary"].as_object_mut().unwrap().remove(key);
    }
    let back = Report::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(back.summary.xfail, 0);
}

#[test]
fn junit() {
    insta::assert_snapshot!(junit::render(&common::report()).unwrap());
}

#[test]
fn summary_markdown() {
    insta::assert_snapshot!(markdown::render(&common::report()));
}

#[test]
fn html_page() {
    let page = html::render(&common::report());
    assert!(!page.contains("http://") || page.contains("https://github.com/example"));
    for banned in ["<link", "src=\"http", "@import", "url("] {
        assert!(
            !page.contains(banned),
            "the page must load nothing: {banned}"
        );
    }
    insta::assert_snapshot!(page);
}

#[test]
fn matrix_cells() {
    let r = common::report();
    let m = Matrix::of(&r);
    let rows: Vec<String> = m
        .rows
        .iter()
        .map(|k| format!("{} {}", k.model, k.quant))
        .collect();
    assert_eq!(
        rows,
        [
            "tiny-llama —",
            "tiny-llama f32",
            "tiny-llama int4",
            "tiny-qwen2 f32",
            "tiny-qwen2 int8",
            "tiny-qwen2 int4",
            "(global) —"
        ]
    );
    assert_eq!(m.suites, ["prepare", "runtime", "token", "inspect", "list"]);
    assert_eq!(m.cells.len(), 9);
    let counted: usize = m.cells.values().map(|c| c.results.len()).sum();
    assert_eq!(counted, r.results.len());
}

#[test]
fn ticket_groups_one_divergence_seen_on_two_prompts_into_one_section() {
    let r = common::report();
    let findings = ticket::findings(&r);
    let sizes: Vec<(String, usize)> = findings
        .iter()
        .map(|f| (f.fingerprint.to_string(), f.results.len()))
        .collect();
    assert_eq!(
        sizes,
        [
            ("PRE002 tiny-llama fail".to_string(), 1),
            ("TOK001 tiny-llama int4 fail @5".to_string(), 2),
            ("RUN002 tiny-llama f32 artifact-unavailable".to_string(), 1),
        ]
    );
    let md = ticket::render(&r);
    for machine in ["/srv/tmgt", "/usr/local/bin"] {
        assert!(!md.contains(machine), "{machine} leaked into the ticket");
    }
    insta::assert_snapshot!(md);
}

#[test]
fn diff_of_two_runs() {
    let old = common::report();
    let mut new = common::raw_report();
    // The Qwen2 Int4 failure loses its ledger entry, the GGUF export gets fixed, one message
    // changes, the list check goes and a new check comes.
    new.results.retain(|x| x.code != "LST001");
    for x in &mut new.results {
        match x.code.as_str() {
            "PRE002" => x.verdict = ReportVerdict::Pass,
            "INS001" => x.message = "apr inspect reports no architecture (v2)".into(),
            _ => {}
        }
    }
    let mut added = new.results[0].clone();
    added.id = "PRE009/new-check/tiny-llama".into();
    added.verdict = ReportVerdict::Error;
    new.results.push(added);
    let d = Diff::between(&old, &new);
    assert!(d.regressed());
    let ids = |c: &[tmgt_report::diff::Change]| c.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&d.newly_failing),
        [
            "TOK001/token-mismatch/tiny-llama/int4/greeting",
            "TOK001/token-mismatch/tiny-qwen2/int4/code",
            "PRE009/new-check/tiny-llama"
        ]
    );
    assert_eq!(
        ids(&d.newly_passing),
        ["PRE002/gguf-export-failed/tiny-llama"]
    );
    assert_eq!(ids(&d.removed), ["LST001/list-misses-cache"]);
    insta::assert_snapshot!(d.render(&old, &new));

    let same = Diff::between(&old, &old);
    assert!(same.is_empty() && !same.regressed());
}

#[test]
fn a_localization_reaches_the_model_s_f32_tickets_and_is_drawn_in_the_page() {
    let mut r = common::report();
    let mut loc = r.results[0].clone();
    loc.id = "LOC001/f32-apr-stage-departs/tiny-llama".into();
    loc.code = "LOC001".into();
    loc.check = "f32-apr-stage-departs".into();
    loc.suite = "localize".into();
    loc.model = Some("tiny-llama".into());
    loc.quant = None;
    loc.prompt = None;
    loc.verdict = ReportVerdict::Fail;
    loc.message = "layer 0 `q_post_rope` departs from HF (rel. L2 4.1e-1, cosine 0.9100) while \
                   layer 0 `qkv_matmul` agrees to 3.0e-7"
        .into();
    loc.details = serde_json::from_value(serde_json::json!({
        "kind": "localization",
        "prompt": "def add(a, b):", "ids": [1, 2], "hf_ids": [1, 2],
        "tolerance": 1e-3,
        "first_departure": "layer-0/q_post_rope",
        "diverged_prompts": ["code"], "missing": [],
        "stages": [
            {"key": "layer-0/qkv_matmul", "layer": 0, "stage": "qkv_matmul", "worst": 3e-7,
             "elements": 64, "non_finite": false, "departs": false},
            {"key": "layer-0/q_post_rope", "layer": 0, "stage": "q_post_rope", "worst": 0.41,
             "elements": 64, "non_finite": false, "departs": true},
        ]
    }))
    .unwrap();
    r.results.push(loc);
    let md = ticket::render(&r);
    let localized: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("- localized by"))
        .collect();
    assert!(!localized.is_empty(), "{md}");
    assert!(
        localized.iter().all(|l| l.contains(
            "`LOC001/f32-apr-stage-departs/tiny-llama` (fail): layer 0 `q_post_rope` departs"
        )),
        "{localized:?}"
    );
    // Only f32 and model-wide findings of that model carry it: not the int4 token drift.
    let int4 = md
        .split("## ")
        .find(|s| s.contains("TOK001 tiny-llama int4"))
        .unwrap();
    assert!(!int4.contains("- localized by"), "{int4}");
    let page = html::render(&r);
    assert_eq!(page.matches("<figure class=\"localization\">").count(), 1);
    assert!(page.contains("first departure: <code>layer-0/q_post_rope</code> (stage 2 of 2"));
}

#[test]
fn a_ticket_finds_the_maker_and_hash_of_a_file_whose_path_has_a_space() {
    let mut r = common::report();
    let spaced = |s: &str| s.replace("/srv/tmgt/.tmgt/artifacts", "/srv/tmgt/my cache");
    for call in &mut r.invocations {
        call.command = spaced(&call.command);
        call.argv = call.argv.iter().map(|a| spaced(a)).collect();
        for input in &mut call.inputs {
            input.path = spaced(&input.path);
        }
        for output in &mut call.outputs {
            output.path = spaced(&output.path);
            output.kept_as = output.kept_as.as_deref().map(spaced);
        }
    }
    r.artifacts = std::mem::take(&mut r.artifacts)
        .into_iter()
        .map(|(path, sha)| (spaced(&path), sha))
        .collect();
    let text = ticket::render(&r);
    let made = "'$ROOT/my cache/tiny-llama/tiny-llama-apr-int4-0123456789abcdef.apr'";
    assert!(
        text.contains(&format!("# makes its input (call #1, exit 0, 900 ms)\napr import $MODELS/tiny-llama -o {made} --quantize int4")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "- artifact `{}` sha256 `{}`",
            made.trim_matches('\''),
            "1".repeat(64)
        )),
        "{text}"
    );
}

#[test]
fn a_ticket_says_whether_the_weights_of_the_file_it_ran_explain_it() {
    let mut r = common::report();
    let tok = r
        .results
        .iter()
        .find(|x| x.code == "TOK001")
        .expect("a token failure")
        .clone();
    let read = tok
        .invocations
        .iter()
        .flat_map(|u| r.invocations.iter().filter(move |c| c.id == u.id))
        .flat_map(|c| c.inputs.iter().map(|i| i.path.clone()))
        .find(|p| p.ends_with(".apr"))
        .expect("the token check read an .apr");
    let section = |r: &Report| {
        ticket::render(r)
            .split("## ")
            .find(|s| s.contains("TOK001 tiny-llama int4"))
            .expect("the TOK001 section")
            .to_string()
    };
    assert!(
        !section(&r).contains("weights"),
        "no weights result, no line"
    );
    let mut weights = tok.clone();
    weights.id = "WGT001/apr-weights-depart-from-source/tiny-llama/int4".into();
    weights.code = "WGT001".into();
    weights.suite = "weights".into();
    weights.prompt = None;
    weights.details = serde_json::from_value(serde_json::json!({
        "kind": "weights", "file": read, "faithful": false,
        "summary": "2 of 21 tensors depart: model.layers.0.mlp.gate_proj.weight is swapped with model.layers.0.mlp.up_proj.weight",
    }))
    .unwrap();
    r.results.push(weights);
    let wrong = section(&r);
    assert!(
        wrong.contains("- the weights explain this: `WGT001/apr-weights-depart-from-source/tiny-llama/int4` finds the file")
            && wrong.contains("is swapped with model.layers.0.mlp.up_proj.weight"),
        "{wrong}"
    );
    let last = r.results.len() - 1;
    if let tmgt_outcome::Details::Weights(w) = &mut r.results[last].details {
        w.faithful = true;
    }
    let right = section(&r);
    assert!(
        right.contains("- the weights do not explain this: every tensor of")
            && right.contains("so the runtime departs, not the file"),
        "{right}"
    );
}

#[test]
fn server_requests_reach_the_page_and_the_ticket_beside_the_apr_calls() {
    let mut r = common::report();
    let tok = r
        .results
        .iter_mut()
        .find(|x| x.code == "TOK001")
        .expect("a token failure");
    tok.requests = vec![tmgt_outcome::RequestRecord {
        server: "/usr/local/bin/apr serve run /srv/tmgt/.tmgt/artifacts/m.apr --host 127.0.0.1 --port 4000 --no-gpu".into(),
        method: "POST".into(),
        path: "/generate".into(),
        status: 200,
        ms: 12,
        curl: "curl -s -X POST 'http://127.0.0.1:4000/generate' -d '{}'".into(),
    }];
    let page = html::render(&r);
    assert!(
        page.contains("# request: POST /generate answered 200 in 12 ms"),
        "the page"
    );
    let md = ticket::render(&r);
    let section = md
        .split("## ")
        .find(|s| s.contains("TOK001 tiny-llama int4"))
        .unwrap();
    assert!(section.contains("The apr serve requests of"), "{section}");
    assert!(
        section.contains("# server (started by tmgt): "),
        "{section}"
    );
    assert!(
        !section.contains("/srv/tmgt"),
        "machine paths are placeholders: {section}"
    );
}

#[test]
fn of_two_entries_selecting_a_result_the_one_expecting_its_verdict_takes_it() {
    // A model-wide entry for the errors its failed import causes, listed before an entry for
    // the import's own failure: each result goes to the entry that expects its verdict.
    let ledger = tmgt_report::Ledger::parse(
        r#"
        [[issue]]
        select = "model=m"
        link = "unfiled"
        reason = "nothing of m runs: its int8 import fails"
        verdict = "error"

        [[issue]]
        select = "check=PRE001 model=m"
        link = "unfiled"
        reason = "the int8 import fails"
        "#,
    )
    .unwrap();
    let mut r = common::blocked_report();
    let fails = r
        .results
        .iter()
        .filter(|x| x.verdict == ReportVerdict::Fail)
        .count();
    let errors = r
        .results
        .iter()
        .filter(|x| x.verdict == ReportVerdict::Error)
        .count();
    assert!(fails > 0 && errors > 0);
    r.apply_ledger(&ledger, true);
    let statuses: Vec<_> = r.known_issues.iter().map(|k| k.xfail).collect();
    assert_eq!(statuses, [errors, fails]);
    assert!(!r.failed(), "every fail and error is known");
}

#[test]
fn the_ladder_table_shows_each_rung_s_cost_apart_from_each_runtime_s_error() {
    let mut r = common::report();
    let template = r.results[0].clone();
    let rung = |ftype: &str, verdict: ReportVerdict, facts: serde_json::Value| {
        let mut x = template.clone();
        x.code = "LAD001".into();
        x.suite = "ladder".into();
        x.model = Some(format!("tiny-llama-wide@{}", ftype.to_lowercase()));
        x.quant = None;
        x.prompt = None;
        x.verdict = verdict;
        x.message = "apr cannot run llama.cpp's IQ4_XS file (`arithmetic`, exit 8): Unsupported quantization type: 23".into();
        x.details = tmgt_outcome::Details::facts(facts);
        x
    };
    let side = |diff: f64, kl: f64| serde_json::json!({ "max_chosen_logprob_diff": diff, "mean_kl": kl, "steps": 128, "divergences": [], "tie_flips": 0 });
    r.results.push(rung(
        "Q4_K_M",
        ReportVerdict::Pass,
        serde_json::json!({
            "base": "tiny-llama-wide", "ftype": "Q4_K_M", "file_bytes": 1_498_656,
            "cost": { "ppl_ratio": 0.99381, "flips": [["code", null], ["greeting", 3]] },
            "apr": side(0.0122, 3.5e-5), "llamacpp": side(0.0174, 4.9e-5), "apr_tok_per_sec": 2345.4,
        }),
    ));
    r.results.push(rung(
        "IQ4_XS",
        ReportVerdict::Xfail,
        serde_json::json!({ "base": "tiny-llama-wide", "ftype": "IQ4_XS", "cost": { "ppl_ratio": 1.0266, "flips": [] } }),
    ));
    let summary = markdown::render(&r);
    assert!(
        summary.contains("### Quantization ladder")
            && summary.contains("| apr: max \\|Δ log-prob\\| / mean KL |")
            && summary.contains("| tiny-llama-wide | Q4_K_M | 1.50 | x0.9938 (1/2) | 1.22e-2 / 3.5e-5 | 1.74e-2 / 4.9e-5 | 2345 | ✅ |")
            && summary.contains("| tiny-llama-wide | IQ4_XS | — | x1.0266 (0/0) | refused: apr cannot run llama.cpp's IQ4_XS file"),
        "{summary}"
    );
    let page = html::render(&r);
    assert!(
        page.contains("<h2>Quantization ladder</h2>")
            && page.contains("<td>x0.9938 (1/2)</td><td>1.22e-2 / 3.5e-5</td>"),
        "the page's ladder section"
    );
    let without = markdown::render(&common::report());
    assert!(
        !without.contains("Quantization ladder"),
        "no rung, no table"
    );
}
