//! `--filter`: narrows a run to some check instances.
//!
//! An expression is space-separated terms that must all hold: `key=value` with key one of
//! `suite`, `check` (name or code), `model`, `quant`, `prompt`; a value may list alternatives
//! with `|`. A bare word matches a suite, a check name or a check code. Several `--filter`
//! flags select the union.

use crate::config::Config;
use crate::matrix::Instance;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Suite(Vec<String>),
    Check(Vec<String>),
    Model(Vec<String>),
    Quant(Vec<String>),
    Prompt(Vec<String>),
    Any(String),
}

impl std::str::FromStr for Filter {
    type Err = String;

    fn from_str(expr: &str) -> Result<Filter, String> {
        let mut terms = Vec::new();
        for word in expr.split_whitespace() {
            let term = match word.split_once('=') {
                None => Term::Any(word.to_string()),
                Some((key, value)) => {
                    let values: Vec<String> = value.split('|').map(str::to_string).collect();
                    if values.iter().any(String::is_empty) {
                        return Err(format!("`{word}`: empty value"));
                    }
                    match key {
                        "suite" => Term::Suite(values),
                        "check" => Term::Check(values),
                        "model" => Term::Model(values),
                        "quant" => Term::Quant(values),
                        "prompt" => Term::Prompt(values),
                        other => {
                            return Err(format!(
                                "`{other}` is not a filter key (use suite, check, model, quant or prompt)"
                            ));
                        }
                    }
                }
            };
            terms.push(term);
        }
        if terms.is_empty() {
            return Err("empty filter".into());
        }
        Ok(Filter { terms })
    }
}

impl Filter {
    pub fn matches(&self, instance: &Instance, config: &Config) -> bool {
        let meta = instance.check.meta;
        let model = instance.model.map(|m| config.models[m].name.as_str());
        let quant = instance.quant.map(|q| q.as_str());
        let prompt = instance.prompt.map(|p| config.prompts[p].name.as_str());
        let one_of = |values: &[String], actual: Option<&str>| {
            actual.is_some_and(|a| values.iter().any(|v| v == a))
        };
        self.terms.iter().all(|term| match term {
            Term::Suite(v) => one_of(v, Some(meta.suite)),
            Term::Check(v) => one_of(v, Some(meta.name)) || one_of(v, Some(meta.code)),
            Term::Model(v) => one_of(v, model),
            Term::Quant(v) => one_of(v, quant),
            Term::Prompt(v) => one_of(v, prompt),
            Term::Any(word) => [meta.suite, meta.name, meta.code].contains(&word.as_str()),
        })
    }

    /// The `--filter` expression that selects exactly this instance.
    pub fn exact(instance: &Instance, config: &Config) -> String {
        let mut terms = vec![format!("check={}", instance.check.meta.name)];
        if let Some(m) = instance.model {
            terms.push(format!("model={}", config.models[m].name));
        }
        if let Some(q) = instance.quant {
            terms.push(format!("quant={q}"));
        }
        if let Some(p) = instance.prompt {
            terms.push(format!("prompt={}", config.prompts[p].name));
        }
        terms.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_terms_and_alternatives() {
        let f: Filter = "suite=token model=tiny-qwen2 quant=int8|int4"
            .parse()
            .unwrap();
        assert_eq!(f.terms.len(), 3);
        assert_eq!(f.terms[2], Term::Quant(vec!["int8".into(), "int4".into()]));
    }

    #[test]
    fn rejects_unknown_keys_and_empty_values() {
        assert!(
            "colour=red"
                .parse::<Filter>()
                .unwrap_err()
                .contains("not a filter key")
        );
        assert!(
            "model="
                .parse::<Filter>()
                .unwrap_err()
                .contains("empty value")
        );
        assert!("   ".parse::<Filter>().is_err());
    }
}
