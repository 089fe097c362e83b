//! Continuations no working model writes on the bundled prompts: one token over and over, or
//! a short loop filling the tail. An oracle that reads like this ran with a wrong setting (a
//! RoPE base lost in conversion, a missing BOS) more likely than it describes the model.

/// The shortest continuation judged: fewer tokens say too little.
const MIN_TOKENS: usize = 12;

/// Why `tokens` look degenerate, or `None`: the most frequent token makes up more than half
/// of them, or the last half repeats a loop of one to three tokens.
#[must_use]
pub fn degenerate(tokens: &[u32]) -> Option<String> {
    if tokens.len() < MIN_TOKENS {
        return None;
    }
    let mut counts = std::collections::HashMap::new();
    for t in tokens {
        *counts.entry(*t).or_insert(0usize) += 1;
    }
    let (token, count) = counts
        .into_iter()
        .max_by_key(|(t, n)| (*n, std::cmp::Reverse(*t)))?;
    if count * 2 > tokens.len() {
        return Some(format!(
            "token {token} makes up {count} of its {} tokens",
            tokens.len()
        ));
    }
    let tail = &tokens[tokens.len() / 2..];
    (1..=3)
        .find(|period| tail.iter().skip(*period).zip(tail).all(|(a, b)| a == b))
        .map(|period| {
            format!(
                "its last {} tokens repeat a loop of {period}: {:?}",
                tail.len(),
                &tail[..period]
            )
        })
}

#[cfg(test)]
mod tests {
    use super::degenerate;

    #[test]
    fn one_token_over_and_over_is_degenerate() {
        let mut tokens = vec![5, 6, 7];
        tokens.extend([9; 20]);
        let why = degenerate(&tokens).unwrap();
        assert_eq!(why, "token 9 makes up 20 of its 23 tokens");
    }

    #[test]
    fn a_short_loop_filling_the_tail_is_degenerate() {
        let tokens: Vec<u32> = (0..16).chain([3, 4].repeat(8)).collect();
        let why = degenerate(&tokens).unwrap();
        assert!(why.contains("repeat a loop of 2: [3, 4]"), "{why}");
    }

    #[test]
    fn varied_text_and_short_continuations_are_not() {
        let varied: Vec<u32> = (0..32).map(|i| (i * 7) % 19).collect();
        assert_eq!(degenerate(&varied), None);
        assert_eq!(degenerate(&[1, 1, 1]), None);
    }
}
