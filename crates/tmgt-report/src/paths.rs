//! Absolute paths in apr commands, replaced by names a reader of a ticket can map to their own
//! checkout: `$ARTIFACTS/tiny-qwen2/tiny-qwen2-apr-int8-….apr`, `$MODELS/tiny-qwen2`.

use crate::schema::Report;

/// Placeholders for the folders of a run, longest first.
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    roots: Vec<Root>,
}

#[derive(Debug, Clone)]
struct Root {
    path: String,
    name: String,
    meaning: &'static str,
}

impl Placeholders {
    /// The run's folders, read from the configuration recorded in the report.
    pub fn of(report: &Report) -> Placeholders {
        let c = &report.config;
        let mut p = Placeholders::default();
        let parent = |s: &str| {
            std::path::Path::new(s)
                .parent()
                .map(|p| p.display().to_string())
        };
        if let Some(dir) = report.out_dir.as_deref().or(c["out_dir"].as_str()) {
            p.add(dir, "$OUT", "the run's output folder (`tmgt run --out`)");
        }
        if let Some(dir) = c["artifacts_dir"].as_str() {
            p.add(
                dir,
                "$ARTIFACTS",
                "the artifact cache (`[paths] artifacts` in suites.toml; `tmgt prepare` fills it)",
            );
        }
        for m in c["models"].as_array().into_iter().flatten() {
            if let Some(dir) = m["source"]["dir"].as_str() {
                if let Some(parent) = parent(dir) {
                    p.add(
                        &parent,
                        "$MODELS",
                        "the folder of the HF model folders (`source` of each model in suites.toml)",
                    );
                }
            }
            if let Some(dir) = m["oracle_dir"].as_str() {
                if let Some(parent) = parent(dir) {
                    p.add(&parent, "$ORACLE", "the oracle folder (`oracle/`)");
                }
            }
        }
        if let Some(file) = c["eval_text"].as_str() {
            if let Some(parent) = parent(file) {
                p.add(&parent, "$PROMPTS", "the prompt folder (`prompts/`)");
            }
        }
        // The folder they all lie in, by default that of suites.toml: for the rest.
        let named: Vec<String> = p.roots.iter().map(|r| r.path.clone()).collect();
        if let Some(root) = common_folder(&named) {
            p.add(
                &root,
                "$ROOT",
                "the folder the paths of suites.toml are relative to (the checkout)",
            );
        }
        p
    }

    fn add(&mut self, path: &str, name: &str, meaning: &'static str) {
        let path = path.trim_end_matches('/');
        if path.is_empty() || self.roots.iter().any(|r| r.path == path) {
            return;
        }
        self.roots.push(Root {
            path: path.to_string(),
            name: name.to_string(),
            meaning,
        });
        self.roots.sort_by_key(|r| std::cmp::Reverse(r.path.len()));
    }

    /// `text` with every known folder replaced by its placeholder.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for root in &self.roots {
            out = replace_at_boundaries(&out, &root.path, &root.name);
        }
        out
    }

    /// The placeholders `text` uses after redaction, with what each stands for.
    pub fn legend(&self, redacted: &str) -> Vec<(String, &'static str)> {
        let mut seen: Vec<(String, &'static str)> = Vec::new();
        for root in &self.roots {
            if redacted.contains(&root.name) && !seen.iter().any(|(n, _)| *n == root.name) {
                seen.push((root.name.clone(), root.meaning));
            }
        }
        seen.sort();
        seen
    }
}

/// The deepest folder every path lies in, unless that is `/` alone.
fn common_folder(paths: &[String]) -> Option<String> {
    let first = paths.first()?;
    let mut parts: Vec<&str> = first.split('/').collect();
    for p in &paths[1..] {
        let other: Vec<&str> = p.split('/').collect();
        let same = parts.iter().zip(&other).take_while(|(a, b)| a == b).count();
        parts.truncate(same);
    }
    let root = parts.join("/");
    (root.len() > 1 && root.starts_with('/')).then_some(root)
}

/// Replaces `from` where it is a whole path prefix: followed by `/`, a quote, a space or the
/// end, so `/x/models` does not rewrite `/x/models2`.
fn replace_at_boundaries(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let after = &rest[at + from.len()..];
        let boundary = after
            .chars()
            .next()
            .is_none_or(|c| matches!(c, '/' | '\'' | '"' | ' ' | '\n' | ')' | ':' | ','));
        out.push_str(&rest[..at]);
        out.push_str(if boundary { to } else { from });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_prefixes_only() {
        let mut p = Placeholders::default();
        p.add("/srv/x/models", "$MODELS", "");
        p.add("/srv/x/.tmgt/artifacts", "$ARTIFACTS", "");
        assert_eq!(
            p.redact(
                "apr import /srv/x/models/tiny -o '/srv/x/.tmgt/artifacts/a b.apr' /srv/x/models2"
            ),
            "apr import $MODELS/tiny -o '$ARTIFACTS/a b.apr' /srv/x/models2"
        );
        assert_eq!(
            common_folder(&["/srv/x/models".into(), "/srv/x/.tmgt/artifacts".into()]),
            Some("/srv/x".into())
        );
        assert_eq!(common_folder(&["/a/x".into(), "/b/y".into()]), None);
    }
}
