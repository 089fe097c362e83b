//! The selector grammar `--filter`, the known-issues ledger's `select` and the tickets'
//! rerun lines share: space-separated terms that must all hold, each `key=a|b` with key
//! `suite`, `check` (a name or a code), `model`, `quant` or `prompt`, or a bare word naming a
//! suite, a check or a code. A selector is matched against a [`Query`], the names an
//! instance before it runs and a result after it ran both give.

use std::fmt;

/// A parsed selector: parse with `str::parse`, print with `Display` (the two round-trip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    key: Key,
    values: Vec<String>,
}

/// What a term names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Suite,
    Check,
    Model,
    Quant,
    Prompt,
    /// A bare word: a suite, a check name or a check code.
    Any,
}

impl Key {
    const NAMED: [(Key, &'static str); 5] = [
        (Key::Suite, "suite"),
        (Key::Check, "check"),
        (Key::Model, "model"),
        (Key::Quant, "quant"),
        (Key::Prompt, "prompt"),
    ];

    fn name(self) -> Option<&'static str> {
        Key::NAMED.iter().find(|(k, _)| *k == self).map(|(_, n)| *n)
    }
}

/// A selector that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("empty selector")]
    Empty,
    #[error("`{0}`: empty value")]
    EmptyValue(String),
    #[error("`{0}` is not a selector key (use suite, check, model, quant or prompt)")]
    UnknownKey(String),
}

/// The names a selector is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a> {
    pub suite: &'a str,
    pub check: &'a str,
    pub code: &'a str,
    pub model: Option<&'a str>,
    pub quant: Option<&'a str>,
    pub prompt: Option<&'a str>,
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;

    fn from_str(expr: &str) -> Result<Selector, SelectorError> {
        let mut terms = Vec::new();
        for word in expr.split_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                terms.push(Term {
                    key: Key::Any,
                    values: vec![word.to_string()],
                });
                continue;
            };
            let values: Vec<String> = value.split('|').map(str::to_string).collect();
            if values.iter().any(String::is_empty) {
                return Err(SelectorError::EmptyValue(word.to_string()));
            }
            let Some(&(key, _)) = Key::NAMED.iter().find(|(_, n)| *n == key) else {
                return Err(SelectorError::UnknownKey(key.to_string()));
            };
            terms.push(Term { key, values });
        }
        if terms.is_empty() {
            return Err(SelectorError::Empty);
        }
        Ok(Selector { terms })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if let Some(k) = term.key.name() {
                write!(f, "{k}=")?;
            }
            f.write_str(&term.values.join("|"))?;
        }
        Ok(())
    }
}

/// A value names one thing, or every thing it starts when it ends in `*`
/// (`model=tiny-llama-wide@*`: every rung of that model's ladder).
fn value_matches(value: &str, actual: &str) -> bool {
    match value.strip_suffix('*') {
        Some(prefix) => actual.starts_with(prefix),
        None => value == actual,
    }
}

impl Selector {
    /// Whether every term holds for `q`.
    pub fn matches(&self, q: &Query<'_>) -> bool {
        let one_of = |values: &[String], actual: Option<&str>| {
            actual.is_some_and(|a| values.iter().any(|v| value_matches(v, a)))
        };
        self.terms.iter().all(|t| match t.key {
            Key::Suite => one_of(&t.values, Some(q.suite)),
            Key::Check => one_of(&t.values, Some(q.check)) || one_of(&t.values, Some(q.code)),
            Key::Model => one_of(&t.values, q.model),
            Key::Quant => one_of(&t.values, q.quant),
            Key::Prompt => one_of(&t.values, q.prompt),
            Key::Any => [q.suite, q.check, q.code].contains(&t.values[0].as_str()),
        })
    }

    /// Whether the selector can select some result of this check, whatever its model, level
    /// and prompt: the suites and checks a ledger entry is about.
    pub fn selects_check(&self, suite: &str, check: &str, code: &str) -> bool {
        let one_of =
            |values: &[String], actual: &str| values.iter().any(|v| value_matches(v, actual));
        self.terms.iter().all(|t| match t.key {
            Key::Suite => one_of(&t.values, suite),
            Key::Check => one_of(&t.values, check) || one_of(&t.values, code),
            Key::Model | Key::Quant | Key::Prompt => true,
            Key::Any => [suite, check, code].contains(&t.values[0].as_str()),
        })
    }

    /// Whether the selector can select anything among results of these models: one that
    /// names only other models is out of a run's scope, which is not staleness.
    pub fn in_scope(&self, models: &[&str]) -> bool {
        self.terms
            .iter()
            .all(|t| t.key != Key::Model || t.values.iter().any(|v| models.contains(&v.as_str())))
    }

    /// The selector that selects exactly the instance `q` names.
    pub fn exact(q: &Query<'_>) -> Selector {
        let term = |key, value: &str| Term {
            key,
            values: vec![value.to_string()],
        };
        let mut terms = vec![term(Key::Check, q.check)];
        terms.extend(q.model.map(|m| term(Key::Model, m)));
        terms.extend(q.quant.map(|v| term(Key::Quant, v)));
        terms.extend(q.prompt.map(|p| term(Key::Prompt, p)));
        Selector { terms }
    }

    /// One selector selecting what all of these do, where they have the same keys in the same
    /// order and differ in at most one term (`prompt=code|greeting`); `None` otherwise.
    pub fn merge(selectors: &[Selector]) -> Option<Selector> {
        let first = selectors.first()?;
        let same_shape = selectors.iter().all(|s| {
            s.terms.len() == first.terms.len()
                && s.terms
                    .iter()
                    .zip(&first.terms)
                    .all(|(a, b)| a.key == b.key)
        });
        if !same_shape {
            return None;
        }
        let differing = (0..first.terms.len())
            .filter(|&i| selectors.iter().any(|s| s.terms[i] != first.terms[i]))
            .count();
        if differing > 1 {
            return None;
        }
        let terms = (0..first.terms.len())
            .map(|i| {
                let mut values: Vec<String> = Vec::new();
                for v in selectors.iter().flat_map(|s| &s.terms[i].values) {
                    if !values.contains(v) {
                        values.push(v.clone());
                    }
                }
                Term {
                    key: first.terms[i].key,
                    values,
                }
            })
            .collect();
        Some(Selector { terms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESULT: Query<'static> = Query {
        suite: "token",
        check: "int8-mismatch",
        code: "TOK003",
        model: Some("tiny-qwen2"),
        quant: Some("int8"),
        prompt: Some("code"),
    };

    fn sel(s: &str) -> Selector {
        s.parse().unwrap()
    }

    #[test]
    fn parses_terms_and_alternatives_and_prints_them_back() {
        let expr = "suite=token model=tiny-qwen2 quant=int8|int4 TOK003";
        assert_eq!(sel(expr).to_string(), expr);
        assert_eq!(
            sel("  suite=token   prompt=code ").to_string(),
            "suite=token prompt=code"
        );
    }

    #[test]
    fn rejects_unknown_keys_empty_values_and_nothing() {
        assert_eq!(
            "colour=red".parse::<Selector>(),
            Err(SelectorError::UnknownKey("colour".into()))
        );
        assert_eq!(
            "model=".parse::<Selector>(),
            Err(SelectorError::EmptyValue("model=".into()))
        );
        assert_eq!(
            "quant=int8|".parse::<Selector>(),
            Err(SelectorError::EmptyValue("quant=int8|".into()))
        );
        assert_eq!("   ".parse::<Selector>(), Err(SelectorError::Empty));
    }

    #[test]
    fn a_value_ending_in_a_star_matches_what_it_starts() {
        assert!(sel("model=tiny-*").matches(&RESULT));
        assert!(sel("model=tiny-llama|tiny-q* check=TOK*").matches(&RESULT));
        assert!(!sel("model=tiny-qwen2@*").matches(&RESULT));
        let rung = Query {
            model: Some("tiny-qwen2@q4_k_m"),
            ..RESULT
        };
        assert!(sel("model=tiny-qwen2@*").matches(&rung));
        assert!(!sel("model=tiny-qwen2").matches(&rung));
    }

    #[test]
    fn every_term_must_hold() {
        assert!(sel("suite=token quant=int4|int8").matches(&RESULT));
        assert!(sel("check=TOK003").matches(&RESULT));
        assert!(sel("check=int8-mismatch prompt=code").matches(&RESULT));
        assert!(sel("TOK003").matches(&RESULT) && sel("token").matches(&RESULT));
        assert!(!sel("suite=token quant=int4").matches(&RESULT));
        assert!(!sel("model=tiny-llama").matches(&RESULT));
        let global = Query {
            model: None,
            quant: None,
            prompt: None,
            ..RESULT
        };
        assert!(
            !sel("model=tiny-qwen2").matches(&global),
            "an absent axis matches nothing"
        );
    }

    #[test]
    fn exact_selects_the_instance_alone() {
        let exact = Selector::exact(&RESULT);
        assert_eq!(
            exact.to_string(),
            "check=int8-mismatch model=tiny-qwen2 quant=int8 prompt=code"
        );
        assert!(exact.matches(&RESULT));
        let other = Query {
            prompt: Some("greeting"),
            ..RESULT
        };
        assert!(!exact.matches(&other));
    }

    #[test]
    fn merge_joins_selectors_that_differ_in_one_term() {
        let merged = Selector::merge(&[
            sel("check=a model=m prompt=code"),
            sel("check=a model=m prompt=greeting|code"),
        ]);
        assert_eq!(
            merged.unwrap().to_string(),
            "check=a model=m prompt=code|greeting"
        );
        assert_eq!(
            Selector::merge(&[sel("check=a model=m"), sel("check=b model=n")]),
            None
        );
        assert_eq!(
            Selector::merge(&[sel("check=a model=m"), sel("check=a")]),
            None
        );
        assert_eq!(Selector::merge(&[]), None);
    }

    #[test]
    fn in_scope_only_when_a_named_model_ran() {
        assert!(sel("suite=token").in_scope(&[]));
        assert!(sel("model=a|b").in_scope(&["b"]));
        assert!(!sel("model=a check=x").in_scope(&["b"]));
    }
}
