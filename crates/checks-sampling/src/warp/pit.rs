//! Whether draws came from the warped distributions: a randomized probability-integral
//! transform of each drawn token, uniform on (0, 1) under the right sampler, tested two ways
//! for each setting apart (a temperature too high in one setting and too low in another would
//! cancel in a pooled test).

use super::Warp;
use checks_inference::compare::StepLogprobs;
use rand::{Rng, SeedableRng};
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

/// Equal-width bins of the chi-square test.
const BINS: usize = 10;

/// The two tests' statistics and p-values over the draws of one setting.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SettingOutcome {
    pub setting: String,
    /// Draws tested (inside the support).
    pub sample: usize,
    pub bins: Vec<usize>,
    pub chi_square: f64,
    pub chi_square_p: f64,
    /// The drawn tokens' total log-likelihood, standardized by its mean and variance under
    /// the warped distributions.
    pub z: f64,
    pub z_p: f64,
}

/// Every setting's tests, and the draws no setting allows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub settings: Vec<SettingOutcome>,
    /// Draws tested, over every setting.
    pub sample: usize,
    /// Draws of a token their setting gives no probability (an immediate rejection).
    pub outside_support: usize,
}

impl Outcome {
    /// The level each test runs at: `alpha` split evenly over two tests per setting.
    pub fn level(&self, alpha: f64) -> f64 {
        alpha / (2 * self.settings.len().max(1)) as f64
    }

    /// Every setting's two tests keep the hypothesis at [`Outcome::level`], and no draw lies
    /// outside the support.
    pub fn accepts(&self, alpha: f64) -> bool {
        let level = self.level(alpha);
        self.outside_support == 0
            && self
                .settings
                .iter()
                .all(|s| s.chi_square_p >= level && s.z_p >= level)
    }

    /// The sample, each test's smallest p-value with its setting, the draws outside.
    pub fn summary(&self, alpha: f64) -> String {
        let worst = |p: fn(&SettingOutcome) -> f64| {
            self.settings.iter().min_by(|a, b| p(a).total_cmp(&p(b)))
        };
        let chi = worst(|s| s.chi_square_p).map_or_else(String::new, |s| {
            format!(
                "chi-square {:.1} at {} (9 degrees of freedom, p = {:.2e})",
                s.chi_square, s.setting, s.chi_square_p
            )
        });
        let z = worst(|s| s.z_p).map_or_else(String::new, |s| {
            format!(
                "log-likelihood z = {:.2} at {} (p = {:.2e})",
                s.z, s.setting, s.z_p
            )
        });
        format!(
            "{} draws over {} settings, smallest p-values: {chi}; {z}; {} draws outside the \
             support; each test at alpha {:.1e} ({alpha:.0e} over {} tests)",
            self.sample,
            self.settings.len(),
            self.outside_support,
            self.level(alpha),
            2 * self.settings.len()
        )
    }
}

/// One setting's draws tested.
fn test_setting(
    warp: Warp,
    steps: &[&StepLogprobs],
    rng: &mut rand::rngs::StdRng,
    outside_support: &mut usize,
) -> SettingOutcome {
    let mut bins = vec![0usize; BINS];
    let (mut log_likelihood, mut mean, mut variance) = (0.0, 0.0, 0.0);
    let mut sample = 0;
    for step in steps {
        let q = warp.distribution(&step.top);
        let Some(position) = q.iter().position(|(id, _)| *id == step.chosen) else {
            *outside_support += 1;
            continue;
        };
        sample += 1;
        let below: f64 = q[..position].iter().map(|(_, p)| p).sum();
        let p = q[position].1;
        let u = (below + rng.random::<f64>() * p).clamp(0.0, 1.0 - f64::EPSILON);
        bins[(u * BINS as f64) as usize] += 1;
        log_likelihood += p.ln();
        let e: f64 = q.iter().map(|(_, p)| p * p.ln()).sum();
        let e2: f64 = q.iter().map(|(_, p)| p * p.ln() * p.ln()).sum();
        mean += e;
        variance += e2 - e * e;
    }
    let expected = sample as f64 / BINS as f64;
    let chi_square = if sample == 0 {
        0.0
    } else {
        bins.iter()
            .map(|&o| (o as f64 - expected).powi(2) / expected)
            .sum()
    };
    let chi_square_p =
        ChiSquared::new((BINS - 1) as f64).map_or(f64::NAN, |d| 1.0 - d.cdf(chi_square));
    let z = if variance > 0.0 {
        (log_likelihood - mean) / variance.sqrt()
    } else {
        0.0
    };
    let z_p = Normal::new(0.0, 1.0).map_or(f64::NAN, |n| 2.0 * (1.0 - n.cdf(z.abs())));
    SettingOutcome {
        setting: warp.to_string(),
        sample,
        bins,
        chi_square,
        chi_square_p,
        z,
        z_p,
    }
}

/// Tests `draws` (each the setting it was drawn at and apr's step: the chosen id and the
/// reported top log-probs), setting by setting, with the transform's own uniforms from `seed`.
pub fn test(draws: &[(Warp, StepLogprobs)], seed: u64) -> Outcome {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut order: Vec<Warp> = Vec::new();
    for (warp, _) in draws {
        if !order.contains(warp) {
            order.push(*warp);
        }
    }
    let mut outside_support = 0;
    let settings: Vec<SettingOutcome> = order
        .into_iter()
        .map(|warp| {
            let steps: Vec<&StepLogprobs> = draws
                .iter()
                .filter(|(w, _)| *w == warp)
                .map(|(_, s)| s)
                .collect();
            test_setting(warp, &steps, &mut rng, &mut outside_support)
        })
        .collect();
    Outcome {
        sample: settings.iter().map(|s| s.sample).sum(),
        settings,
        outside_support,
    }
}

#[cfg(test)]
mod tests {
    //! The tests' power: fed the draws of a faithful sampler they accept, fed those of each
    //! wrong sampler they reject, at the check's alpha and sample size (4 settings x 4 seeds x
    //! 256 draws), over steps whose 20 logits are drawn like a small model's (normal, spread
    //! 2.5, so a few tokens hold most of the mass).
    use super::*;
    use crate::calibration::{ALPHA, SETTINGS};
    use rand::rngs::StdRng;

    const DRAWS_PER_SETTING: usize = 4 * 256;

    /// A standard normal by Box-Muller.
    fn normal(rng: &mut StdRng) -> f64 {
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// A step's reported top 20: log-softmax of normal logits, best first.
    fn step_logits(rng: &mut StdRng) -> Vec<(u32, f64)> {
        let logits: Vec<f64> = (0..20).map(|_| normal(rng) * 2.5).collect();
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
        let mut top: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u32, l - lse))
            .collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        top
    }

    /// An inverse-CDF draw from `q` with uniform `u`.
    fn pick(q: &[(u32, f64)], u: f64) -> u32 {
        let mut cum = 0.0;
        for (id, p) in q {
            cum += p;
            if u < cum {
                return *id;
            }
        }
        q.last().map_or(0, |(id, _)| *id)
    }

    /// The draws a sampler makes over the check's settings: `sampler` maps the setting, the
    /// step's reported logits and a uniform to the chosen id.
    fn draws(
        settings: &[Warp],
        sampler: impl Fn(&Warp, &[(u32, f64)], f64) -> u32,
    ) -> Vec<(Warp, StepLogprobs)> {
        let mut rng = StdRng::seed_from_u64(1);
        let mut out = Vec::new();
        for warp in settings {
            for _ in 0..DRAWS_PER_SETTING {
                let top = step_logits(&mut rng);
                let chosen = sampler(warp, &top, rng.random());
                out.push((*warp, StepLogprobs { chosen, top }));
            }
        }
        out
    }

    fn faithful(warp: &Warp, top: &[(u32, f64)], u: f64) -> u32 {
        pick(&warp.distribution(top), u)
    }

    /// The outcome, printed (`--nocapture` shows each sampler's statistics).
    fn judged(draws: &[(Warp, StepLogprobs)]) -> Outcome {
        let outcome = test(draws, 99);
        eprintln!("{}", outcome.summary(ALPHA));
        outcome
    }

    #[test]
    fn a_faithful_sampler_is_accepted() {
        let outcome = judged(&draws(&SETTINGS, faithful));
        assert!(outcome.accepts(ALPHA), "{}", outcome.summary(ALPHA));
        assert_eq!(outcome.sample, 4 * DRAWS_PER_SETTING);
    }

    /// The settings without a nucleus, where a wrong temperature draws nothing outside the
    /// support and only the statistics can tell.
    fn without_nucleus() -> Vec<Warp> {
        SETTINGS
            .iter()
            .copied()
            .filter(|w| w.top_p >= 1.0)
            .collect()
    }

    /// The statistics alone reject: every draw lies inside the support.
    fn rejected_by_statistics(outcome: &Outcome) {
        assert_eq!(outcome.outside_support, 0, "{}", outcome.summary(ALPHA));
        assert!(!outcome.accepts(ALPHA), "{}", outcome.summary(ALPHA));
    }

    #[test]
    fn an_ignored_temperature_is_rejected() {
        let outcome = judged(&draws(&without_nucleus(), |w, top, u| {
            faithful(
                &Warp {
                    temperature: 1.0,
                    ..*w
                },
                top,
                u,
            )
        }));
        rejected_by_statistics(&outcome);
    }

    #[test]
    fn a_squared_temperature_is_rejected() {
        let outcome = judged(&draws(&without_nucleus(), |w, top, u| {
            let squared = w.temperature * w.temperature;
            faithful(
                &Warp {
                    temperature: squared,
                    ..*w
                },
                top,
                u,
            )
        }));
        rejected_by_statistics(&outcome);
    }

    #[test]
    fn top_k_off_by_one_is_rejected() {
        // At top-k 20 of 20 reported tokens a 21st is unseen, so the power is shown at top-k
        // 5, where one token more or less moves a visible share of the mass.
        let settings: Vec<Warp> = SETTINGS.iter().map(|w| Warp { top_k: 5, ..*w }).collect();
        for wrong in [4, 6] {
            let outcome = judged(&draws(&settings, |w, top, u| {
                faithful(&Warp { top_k: wrong, ..*w }, top, u)
            }));
            assert!(
                !outcome.accepts(ALPHA),
                "top-k {wrong}: {}",
                outcome.summary(ALPHA)
            );
            if wrong < 5 {
                // One token fewer leaves every draw inside the support: the statistics tell.
                rejected_by_statistics(&outcome);
            }
        }
    }

    #[test]
    fn top_p_before_temperature_is_rejected() {
        let outcome = judged(&draws(&SETTINGS, |w, top, u| {
            // The nucleus of the untempered distribution, then the temperature inside it.
            let nucleus: Vec<u32> = Warp {
                temperature: 1.0,
                ..*w
            }
            .distribution(top)
            .iter()
            .map(|(id, _)| *id)
            .collect();
            let inside: Vec<(u32, f64)> = top
                .iter()
                .copied()
                .filter(|(id, _)| nucleus.contains(id))
                .collect();
            faithful(&Warp { top_p: 1.0, ..*w }, &inside, u)
        }));
        assert!(!outcome.accepts(ALPHA), "{}", outcome.summary(ALPHA));
    }

    #[test]
    fn a_stuck_random_number_is_rejected() {
        let outcome = judged(&draws(&SETTINGS, |w, top, _| faithful(w, top, 0.37)));
        rejected_by_statistics(&outcome);
    }

    #[test]
    fn a_draw_outside_the_support_is_rejected() {
        let mut all = draws(&SETTINGS, faithful);
        // A draw of the second setting (top-p 0.9), whose nucleus leaves tokens out.
        let (warp, step) = &mut all[DRAWS_PER_SETTING];
        let q = warp.distribution(&step.top);
        step.chosen = step
            .top
            .iter()
            .map(|(id, _)| *id)
            .find(|id| !q.iter().any(|(k, _)| k == id))
            .unwrap_or(step.chosen);
        let outcome = judged(&all);
        assert!(!outcome.accepts(ALPHA), "{}", outcome.summary(ALPHA));
    }
}
