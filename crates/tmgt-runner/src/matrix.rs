//! The matrix: every registered check of an enabled suite, instantiated over its scope's axes
//! (models, quantization levels, prompts), then narrowed by `--filter`.

use crate::config::Config;
use tmgt_check::{Quant, Registration, Registry, Scope};
use tmgt_select::{Query, Selector};

/// One check applied to one point of its scope.
#[derive(Debug, Clone)]
pub struct Instance {
    pub check: Registration,
    /// Index into the config's models.
    pub model: Option<usize>,
    pub quant: Option<Quant>,
    /// Index into the config's prompts.
    pub prompt: Option<usize>,
}

impl Instance {
    /// A stable id: `CODE/name[/model][/quant][/prompt]`.
    pub fn id(&self, config: &Config) -> String {
        let mut id = format!("{}/{}", self.check.meta.code, self.check.meta.name);
        if let Some(m) = self.model {
            id.push('/');
            id.push_str(&config.models[m].name);
        }
        if let Some(q) = self.quant {
            id.push('/');
            id.push_str(q.as_str());
        }
        if let Some(p) = self.prompt {
            id.push('/');
            id.push_str(&config.prompts[p].name);
        }
        id
    }

    /// The names a selector (`--filter`, a ledger entry) is matched against.
    pub fn query<'a>(&self, config: &'a Config) -> Query<'a> {
        let meta = self.check.meta;
        Query {
            suite: meta.suite,
            check: meta.name,
            code: meta.code,
            model: self.model.map(|m| config.models[m].name.as_str()),
            quant: self.quant.map(Quant::as_str),
            prompt: self.prompt.map(|p| config.prompts[p].name.as_str()),
        }
    }
}

/// Expands the enabled suites in registry order (suite, then code), then models, quants,
/// prompts: the order reports show whatever order instances finish in.
pub fn build(config: &Config, registry: &Registry, filters: &[Selector]) -> Vec<Instance> {
    let mut out = Vec::new();
    for reg in registry.checks() {
        if !config.suites.iter().any(|s| s == reg.meta.suite) {
            continue;
        }
        for instance in expand(config, *reg) {
            if filters.is_empty() || filters.iter().any(|f| f.matches(&instance.query(config))) {
                out.push(instance);
            }
        }
    }
    out
}

fn expand(config: &Config, check: Registration) -> Vec<Instance> {
    let scope = check.meta.scope;
    if scope == Scope::Global {
        return vec![Instance {
            check,
            model: None,
            quant: None,
            prompt: None,
        }];
    }
    let mut out = Vec::new();
    for (m, model) in config.models.iter().enumerate() {
        if model.rung.is_some() && !config.rung_suites.iter().any(|s| s == check.meta.suite) {
            continue;
        }
        if let Some(suites) = &config.model_suites[m]
            && !suites.iter().any(|s| s == check.meta.suite)
        {
            continue;
        }
        let quants: Vec<Option<Quant>> = if scope.has_quant() {
            model.quants.iter().copied().map(Some).collect()
        } else {
            vec![None]
        };
        for quant in quants {
            let prompts: Vec<Option<usize>> = if scope.has_prompt() {
                (0..config.prompts.len()).map(Some).collect()
            } else {
                vec![None]
            };
            for prompt in prompts {
                out.push(Instance {
                    check,
                    model: Some(m),
                    quant,
                    prompt,
                });
            }
        }
    }
    out
}
