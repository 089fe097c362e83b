//! Configuration problems rendered by miette: the file, the line, a label under the offending
//! text and a help line, for every problem at once.

use miette::{Diagnostic, NamedSource, SourceSpan};
use std::ops::Range;
use std::path::Path;
use toml::de::{DeTable, DeValue};

/// One thing wrong with the configuration, located by key path or by byte span.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Key path from the document root (`models`, `tiny-llama`, `quants`, `1`).
    pub path: Vec<String>,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    /// Point at the key rather than its value (unknown keys).
    pub on_key: bool,
    /// An exact span, when the parser gave one.
    pub span: Option<Range<usize>>,
}

impl Problem {
    pub fn at(path: &[&str], message: impl Into<String>, label: impl Into<String>) -> Problem {
        Problem::at_owned(path.iter().map(|s| s.to_string()).collect(), message, label)
    }

    pub fn at_owned(
        path: Vec<String>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Problem {
        Problem {
            path,
            message: message.into(),
            label: label.into(),
            help: None,
            on_key: false,
            span: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }

    pub fn on_key(mut self) -> Problem {
        self.on_key = true;
        self
    }

    pub fn syntax(error: &toml::de::Error) -> Problem {
        Problem {
            path: Vec::new(),
            message: format!("TOML syntax error: {}", error.message().trim()),
            label: "here".into(),
            help: Some("fix the TOML syntax; strings need double quotes, tables [brackets]".into()),
            on_key: false,
            span: error.span(),
        }
    }
}

/// Why a configuration was refused. Renders as one diagnostic per problem.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{file}: {} problem{} in the configuration", problems.len(), if problems.len() == 1 { "" } else { "s" })]
#[diagnostic(code(tmgt::config))]
pub struct ConfigError {
    file: String,
    #[related]
    problems: Vec<Located>,
}

/// A problem with its source text attached.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct Located {
    message: String,
    #[source_code]
    source_code: NamedSource<String>,
    #[label("{label}")]
    span: Option<SourceSpan>,
    label: String,
    #[help]
    help: Option<String>,
}

impl ConfigError {
    pub fn new(file: &Path, source: String, problems: Vec<Problem>) -> ConfigError {
        let (document, _) = DeTable::parse_recoverable(&source);
        let name = file.display().to_string();
        let problems = problems
            .into_iter()
            .map(|p| {
                let span = p
                    .span
                    .clone()
                    .or_else(|| locate(document.get_ref(), &p.path, p.on_key));
                Located {
                    message: p.message,
                    source_code: NamedSource::new(&name, source.clone()),
                    span: span.map(|r| SourceSpan::from(r.start..r.end.max(r.start))),
                    label: p.label,
                    help: p.help,
                }
            })
            .collect();
        ConfigError {
            file: name,
            problems,
        }
    }

    pub fn unreadable(file: &Path, reason: &str) -> ConfigError {
        let name = file.display().to_string();
        ConfigError {
            file: name.clone(),
            problems: vec![Located {
                message: format!("cannot read {name}: {reason}"),
                source_code: NamedSource::new(&name, String::new()),
                span: None,
                label: String::new(),
                help: Some("pass the configuration with --config FILE; the repository root has suites.toml".into()),
            }],
        }
    }

    /// The problems' messages, for tests and logs.
    pub fn messages(&self) -> Vec<&str> {
        self.problems.iter().map(|p| p.message.as_str()).collect()
    }
}

/// The span of the value (or key) at `path`, or of the nearest ancestor that exists.
fn locate(root: &DeTable<'_>, path: &[String], on_key: bool) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let (key, mut value) = root.iter().find(|(k, _)| k.get_ref() == first)?;
    let mut best = if on_key && rest.is_empty() {
        key.span()
    } else {
        value.span()
    };
    for (i, seg) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        let next = match value.get_ref() {
            DeValue::Table(t) => t
                .iter()
                .find(|(k, _)| k.get_ref() == seg)
                .map(|(k, v)| (Some(k.span()), v)),
            DeValue::Array(_) => seg
                .parse::<usize>()
                .ok()
                .and_then(|i| value.get_ref().get(i))
                .map(|v| (None, v)),
            _ => None,
        };
        let Some((key_span, v)) = next else { break };
        value = v;
        best = match (on_key && last, key_span) {
            (true, Some(k)) => k,
            _ => v.span(),
        };
    }
    Some(best)
}
