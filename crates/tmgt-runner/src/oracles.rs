//! The oracles of a run: each loaded once, checked against its model's files (and a prompt's
//! oracle against the configured prompt text), and shared by every instance that judges by it.
//! The preflight and the checks read them through here, so both apply the same rules.

use crate::config::Config;
use crate::matrix::Instance;
use std::sync::Arc;
use tmgt_check::Memo;
use tmgt_oracle::{Oracle, PerplexityOracle};

#[derive(Debug, Default)]
pub struct Oracles {
    prompts: Memo<(usize, usize), Result<Arc<Oracle>, String>>,
    perplexity: Memo<usize, Result<Arc<PerplexityOracle>, String>>,
    /// The sha256 of each ladder rung's file, hashed once.
    rung_files: Memo<usize, Result<String, String>>,
}

impl Oracles {
    /// The oracle of model `model` for prompt `prompt` (indices into the configuration).
    pub fn prompt(
        &self,
        config: &Config,
        model: usize,
        prompt: usize,
    ) -> Result<Arc<Oracle>, String> {
        self.prompts
            .get_or_init((model, prompt), || {
                let m = &config.models[model];
                let p = &config.prompts[prompt];
                let oracle =
                    tmgt_oracle::load(&m.oracle_dir, &p.name).map_err(|e| e.to_string())?;
                match self.rung_file(config, model)? {
                    Some((file, sha)) => oracle.verify_gguf(file, &sha, &m.name),
                    None => m.local_dir().map_or(Ok(()), |dir| oracle.verify_model(dir)),
                }
                .map_err(|e| e.to_string())?;
                if oracle.prompt != p.text {
                    return Err(format!(
                        "{} was made for the prompt {:?}, but the configured prompt is {:?}",
                        oracle.path.display(),
                        oracle.prompt,
                        p.text
                    ));
                }
                Ok(Arc::new(oracle))
            })
            .0
    }

    /// The reference perplexity of the evaluation text for model `model`.
    pub fn perplexity(
        &self,
        config: &Config,
        model: usize,
    ) -> Result<Arc<PerplexityOracle>, String> {
        self.perplexity
            .get_or_init(model, || {
                let m = &config.models[model];
                let oracle =
                    tmgt_oracle::load_perplexity(&m.oracle_dir).map_err(|e| e.to_string())?;
                match self.rung_file(config, model)? {
                    Some((file, sha)) => oracle.verify_gguf(file, &sha, &m.name),
                    None => m.local_dir().map_or(Ok(()), |dir| oracle.verify_model(dir)),
                }
                .map_err(|e| e.to_string())?;
                Ok(Arc::new(oracle))
            })
            .0
    }

    /// A ladder rung's file and its sha256, which its oracles must record; `None` for a model
    /// that is no rung (its oracles are checked against its model folder).
    fn rung_file<'c>(
        &self,
        config: &'c Config,
        model: usize,
    ) -> Result<Option<(&'c std::path::Path, String)>, String> {
        let m = &config.models[model];
        let (Some(_), Some(file)) = (&m.rung, &m.provided) else {
            return Ok(None);
        };
        let sha = self
            .rung_files
            .get_or_init(model, || {
                tmgt_oracle::sha256_file(file)
                    .map_err(|e| format!("cannot hash {}: {e}", file.display()))
            })
            .0?;
        Ok(Some((file, sha)))
    }

    /// Loads every prompt oracle the matrix needs before any apr work, so an oracle made from
    /// another model or for another prompt stops the run with every such problem named,
    /// instead of failing checks one by one.
    pub fn preflight(&self, config: &Config, instances: &[Instance]) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for i in instances {
            let (Some(m), Some(p)) = (i.model, i.prompt) else {
                continue;
            };
            if seen.insert((m, p)) {
                if let Err(e) = self.prompt(config, m, p) {
                    problems.push(e);
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
