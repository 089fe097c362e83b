//! The localize suite's per-stage errors drawn along the network: one point per traced stage
//! in forward order, its error on a log scale, the noise tolerance as a dashed line and the
//! first departing stage marked and named.

use crate::text::html;
use std::fmt::Write as _;
use tmgt_outcome::Details;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 160.0;
const PAD: f64 = 36.0;
/// The log10 range drawn: float noise near the bottom, order-one errors at the top.
const LOW: f64 = -9.0;
const HIGH: f64 = 1.0;

/// One stage's point.
struct Point<'a> {
    key: &'a str,
    error: f64,
    departs: bool,
}

/// The chart of a result whose details are a localization, else `None`.
#[must_use]
pub fn chart(details: &Details) -> Option<String> {
    let loc = details.localization()?;
    let tolerance = loc.tolerance;
    let points: Vec<Point<'_>> = loc
        .stages
        .iter()
        .map(|s| Point {
            key: &s.key,
            error: s.worst.unwrap_or(f64::INFINITY),
            departs: s.departs,
        })
        .collect();
    if points.is_empty() {
        return None;
    }
    let x = |i: usize| PAD + (WIDTH - 2.0 * PAD) * i as f64 / (points.len().max(2) - 1) as f64;
    let y = |e: f64| {
        let l = if e > 0.0 {
            e.log10().clamp(LOW, HIGH)
        } else {
            LOW
        };
        PAD / 2.0 + (HEIGHT - PAD) * (HIGH - l) / (HIGH - LOW)
    };
    let mut svg = format!(
        "<figure class=\"localization\"><svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"error of each traced stage against HF\">"
    );
    for exp in [-9, -6, -3, 0] {
        let _ = write!(
            svg,
            "<text x=\"2\" y=\"{:.1}\" class=\"axis\">1e{exp}</text>",
            y(10f64.powi(exp)) + 3.0
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{PAD}\" x2=\"{:.1}\" y1=\"{t:.1}\" y2=\"{t:.1}\" class=\"tolerance\"/>",
        WIDTH - PAD,
        t = y(tolerance)
    );
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.error)))
        .collect();
    let _ = write!(
        svg,
        "<polyline points=\"{}\" class=\"errors\"/>",
        line.join(" ")
    );
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" class=\"{}\"><title>{}: {:.2e}</title></circle>",
            x(i),
            y(p.error),
            if p.departs { "departs" } else { "agrees" },
            html(p.key),
            p.error
        );
    }
    let first = loc.first_departure.as_deref();
    let caption = match first.and_then(|k| points.iter().position(|p| p.key == k)) {
        Some(i) => {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"first\">{}</text>",
                x(i).min(WIDTH - 160.0),
                y(points[i].error) - 6.0,
                html(points[i].key)
            );
            format!(
                "first departure: <code>{}</code> (stage {} of {} traced)",
                html(points[i].key),
                i + 1,
                points.len()
            )
        }
        None => format!("every one of {} traced stages within noise", points.len()),
    };
    let _ = writeln!(
        svg,
        "</svg><figcaption>Relative error of each stage against HF, in forward order (log \
         scale; dashed: tolerance {tolerance:.0e}); {caption}</figcaption></figure>"
    );
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tmgt_outcome::{Localization, StageRow};

    fn stage(key: &str, worst: Option<f64>, departs: bool) -> StageRow {
        StageRow {
            key: key.into(),
            layer: Some(0),
            stage: key.rsplit('/').next().unwrap_or(key).into(),
            rel_l2: worst,
            max_abs: worst,
            cosine: Some(1.0),
            norm_rel: worst,
            worst,
            elements: 64,
            non_finite: worst.is_none(),
            departs,
            head_order: None,
            apr_values: None,
            hf_values: None,
        }
    }

    fn details(first: Option<&str>) -> Details {
        Details::Localization(Box::new(Localization {
            prompt: "hi".into(),
            ids: vec![1, 2],
            hf_ids: vec![1, 2],
            tolerance: 1e-3,
            first_departure: first.map(str::to_string),
            diverged_prompts: Vec::new(),
            missing: Vec::new(),
            stages: vec![
                stage("layer-0/embedding", Some(1e-8), false),
                stage("layer-0/qkv_matmul", Some(3e-7), false),
                stage("layer-0/q_post_rope", None, true),
            ],
        }))
    }

    #[test]
    fn draws_a_point_per_stage_and_names_the_first_departure() {
        let svg = chart(&details(Some("layer-0/q_post_rope"))).unwrap();
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("class=\"departs\"").count(), 1);
        assert!(svg.contains("first departure: <code>layer-0/q_post_rope</code> (stage 3 of 3"));
        let calm = chart(&details(None)).unwrap();
        assert!(calm.contains("every one of 3 traced stages within noise"));
    }

    #[test]
    fn results_without_a_localization_have_no_chart() {
        assert!(chart(&Details::facts(json!({"apr": [1, 2]}))).is_none());
        assert!(chart(&Details::None).is_none());
    }
}
