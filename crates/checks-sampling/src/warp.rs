//! HF's warpers over the logits apr reports for one step: temperature, then top-k, then top-p
//! (the order of transformers' `TemperatureLogitsWarper`, `TopKLogitsWarper`,
//! `TopPLogitsWarper`), giving the distribution a faithful sampler draws from.

pub mod pit;

/// Slack on the nucleus's edge for float rounding of the cumulative mass.
const MASS_SLACK: f64 = 1e-6;

/// One sampling setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warp {
    pub temperature: f64,
    pub top_k: usize,
    /// 1 keeps every token.
    pub top_p: f64,
}

impl std::fmt::Display for Warp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "temperature {}, top-k {}, top-p {}",
            self.temperature, self.top_k, self.top_p
        )
    }
}

impl Warp {
    /// The probability of each token left, best first, from one step's (id, log-prob) best
    /// first: the first `top_k` and any tie with the last of them, softmax at `temperature`,
    /// then each token whose betters hold less than `top_p` of that mass, renormalized.
    pub fn distribution(&self, top: &[(u32, f64)]) -> Vec<(u32, f64)> {
        let kept: Vec<(u32, f64)> = match top.get(self.top_k.saturating_sub(1)) {
            Some(&(_, kth)) if self.top_k > 0 => {
                top.iter().copied().filter(|(_, lp)| *lp >= kth).collect()
            }
            _ => top.to_vec(),
        };
        let scaled: Vec<f64> = kept.iter().map(|(_, lp)| lp / self.temperature).collect();
        let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = scaled.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut before = 0.0;
        let mut nucleus = Vec::new();
        for ((id, _), w) in kept.iter().zip(&weights) {
            if before < self.top_p + MASS_SLACK {
                nucleus.push((*id, *w));
            }
            before += w / total;
        }
        let mass: f64 = nucleus.iter().map(|(_, w)| w).sum();
        nucleus.into_iter().map(|(id, w)| (id, w / mass)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logprobs(ps: &[f64]) -> Vec<(u32, f64)> {
        ps.iter()
            .enumerate()
            .map(|(i, p)| (i as u32, p.ln()))
            .collect()
    }

    fn ids(d: &[(u32, f64)]) -> Vec<u32> {
        d.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn the_nucleus_keeps_each_token_whose_betters_hold_less_than_top_p() {
        let warp = Warp {
            temperature: 1.5,
            top_k: 10,
            top_p: 0.9,
        };
        // At temperature 1.5, 0.5/0.3/0.2 become 0.44/0.31/0.24: the first two hold 0.75.
        let d = warp.distribution(&logprobs(&[0.5, 0.3, 0.2]));
        assert_eq!(ids(&d), vec![0, 1, 2]);
        assert!((d.iter().map(|(_, p)| p).sum::<f64>() - 1.0).abs() < 1e-12);
        // One dominant token: the nucleus is that token alone, with all the mass.
        let d = warp.distribution(&[(5, -1e-9), (6, -30.0), (7, -31.0)]);
        assert_eq!(d, vec![(5, 1.0)]);
    }

    #[test]
    fn temperature_one_without_filters_is_the_reported_distribution() {
        let warp = Warp {
            temperature: 1.0,
            top_k: 20,
            top_p: 1.0,
        };
        let d = warp.distribution(&logprobs(&[0.6, 0.3, 0.1]));
        for ((_, p), want) in d.iter().zip([0.6, 0.3, 0.1]) {
            assert!((p - want).abs() < 1e-12, "{d:?}");
        }
    }

    #[test]
    fn top_k_cuts_after_the_kth_and_keeps_its_ties() {
        let warp = Warp {
            temperature: 1.0,
            top_k: 10,
            top_p: 1.0,
        };
        let mut top: Vec<(u32, f64)> = (0..12).map(|i| (i, -0.01 * f64::from(i))).collect();
        top[10].1 = top[9].1;
        assert_eq!(ids(&warp.distribution(&top)), (0..11).collect::<Vec<u32>>());
    }
}
