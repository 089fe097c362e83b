use crate::completion;
use crate::serving::{Kept, Session, apr_f32, first_prompt};
use apr_serve::{Client, api};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// The longest `/health` may take to answer while the server is loaded.
const HEALTH_BOUND: Duration = Duration::from_secs(5);

declare_check! {
    /// Identical greedy requests sent at once (2x and 8x the CPU cores) each get the
    /// sequential result, each under an id of its own, while `/health` keeps answering within
    /// 5 s: concurrency must change neither the text nor the server's liveness. Throughput and
    /// latency percentiles are reported as facts.
    pub Load {
        code: "SRV016",
        name: "serve-load-changes-results",
        suite: "serve",
        scope: Scope::Model,
        summary: "concurrent identical requests get the sequential result, distinct ids, a live /health",
    }
}

impl Check for Load {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let session = Session::open(cx, apr_f32())?;
    let (client, mut transcript) = (session.client(), session.transcript());
    let prompt = first_prompt(cx)?;
    let body = completion::body(&prompt.text, cx.max_new_tokens());
    let sequential = completion::complete(&client, &mut transcript, &body)?
        .1
        .choices
        .first()
        .map(|c| c.text.clone())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut problems = Vec::new();
    let mut figures = Vec::new();
    let mut sent = 0;
    for n in [2 * cores, 8 * cores] {
        let wave = wave(&client, &body, n);
        sent += n;
        let mut ids = BTreeSet::new();
        let mut latencies = Vec::new();
        for outcome in &wave.outcomes {
            match outcome {
                Ok((id, text, ms)) => {
                    ids.insert(id.clone());
                    latencies.push(*ms);
                    if *text != sequential {
                        problems.push(format!(
                            "{n} at once: a reply {text:?} where alone it is {sequential:?}"
                        ));
                    }
                }
                Err(e) => problems.push(format!("{n} at once: {e}")),
            }
        }
        // Timestamp ids are a finding whether or not this wave saw two collide; a collision
        // seen by chance goes to the facts, so the message reads the same on every run.
        match wave.timestamp_id.clone() {
            Some(stamp) => problems.push(stamp),
            None if ids.len() != latencies.len() => problems.push(format!(
                "{n} at once: {} distinct ids for {} replies",
                ids.len(),
                latencies.len()
            )),
            None => {}
        }
        if wave.worst_health > HEALTH_BOUND {
            problems.push(format!(
                "{n} at once: /health took {:.1} s to answer (bound {} s)",
                wave.worst_health.as_secs_f64(),
                HEALTH_BOUND.as_secs()
            ));
        }
        latencies.sort_unstable();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 - 1.0) * p) as usize)
                .copied()
                .unwrap_or(0)
        };
        figures.push(json!({
            "concurrent": n, "wall_ms": wave.wall.as_millis() as u64,
            "requests_per_s": n as f64 / wave.wall.as_secs_f64().max(1e-9),
            "p50_ms": pct(0.5), "p95_ms": pct(0.95), "worst_health_ms": wave.worst_health.as_millis() as u64,
            "distinct_ids": ids.len(),
        }));
    }
    problems.dedup();
    let message = if problems.is_empty() {
        format!(
            "{sent} concurrent requests ({} and {} at once) all gave the sequential text under distinct ids; /health answered within {} s",
            2 * cores,
            8 * cores,
            HEALTH_BOUND.as_secs()
        )
    } else {
        problems.join("; ")
    };
    Ok(Verdict::judge(
        problems.is_empty(),
        Evidence::new(sent, "concurrent requests"),
        message,
    )
    .kept(&transcript, json!({ "waves": figures })))
}

/// What `n` simultaneous requests got: each reply's id, text and milliseconds.
struct Wave {
    outcomes: Vec<Result<(String, String, u64), String>>,
    /// Where an id is the request's wall-clock milliseconds, which two requests in the same
    /// millisecond share whether or not this wave saw it happen.
    timestamp_id: Option<String>,
    wall: Duration,
    worst_health: Duration,
}

fn wave(client: &Client<'_>, body: &serde_json::Value, n: usize) -> Wave {
    let done = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| {
        let health = s.spawn(|| {
            let mut worst = Duration::ZERO;
            while !done.load(Ordering::SeqCst) {
                let t = Instant::now();
                let _ = client.get("/health");
                worst = worst.max(t.elapsed());
                std::thread::sleep(Duration::from_millis(100));
            }
            worst
        });
        let handles: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    let reply = client
                        .post_json("/v1/completions", body)
                        .map_err(|e| e.to_string())?;
                    let c = api::completion(&reply).map_err(|e| e.to_string())?.value;
                    let text = c
                        .choices
                        .first()
                        .map(|c| c.text.clone())
                        .unwrap_or_default();
                    Ok((c.id, text, reply.exchange.ms, c.created))
                })
            })
            .collect();
        let replies: Vec<Result<(String, String, u64, u64), String>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a request thread panicked".into()))
            })
            .collect();
        let timestamp_id = replies.iter().flatten().find_map(|(id, _, _, created)| {
            let digits: String = id.chars().rev().take_while(char::is_ascii_digit).collect();
            let millis: u64 = digits.chars().rev().collect::<String>().parse().ok()?;
            ((millis / 1000).abs_diff(*created) <= 1).then(|| {
                format!(
                    "ids are wall-clock milliseconds ({}<epoch ms>, the reply's creation time): requests in the same millisecond share one",
                    id.trim_end_matches(|c: char| c.is_ascii_digit())
                )
            })
        });
        let outcomes = replies
            .into_iter()
            .map(|r| r.map(|(id, text, ms, _)| (id, text, ms)))
            .collect();
        let wall = started.elapsed();
        done.store(true, Ordering::SeqCst);
        let worst_health = health.join().unwrap_or(Duration::MAX);
        Wave {
            outcomes,
            timestamp_id,
            wall,
            worst_health,
        }
    })
}
