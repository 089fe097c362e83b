use crate::{Check, CheckMeta};
use std::collections::HashMap;

/// One check's entry in the inventory. Built by [`crate::declare_check!`].
#[derive(Clone, Copy)]
pub struct Registration {
    pub meta: &'static CheckMeta,
    pub check: &'static dyn Check,
}

impl Registration {
    pub const fn new(meta: &'static CheckMeta, check: &'static dyn Check) -> Registration {
        Registration { meta, check }
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("code", &self.meta.code)
            .field("name", &self.meta.name)
            .finish()
    }
}

inventory::collect!(Registration);

/// A registry that would make two checks indistinguishable in reports or filters.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("two checks are named `{0}`")]
    DuplicateName(String),
    #[error("two checks use code `{0}`")]
    DuplicateCode(String),
}

/// Every registered check, sorted by code.
#[derive(Debug)]
pub struct Registry {
    checks: Vec<Registration>,
}

impl Registry {
    /// The only reader of the inventory.
    pub fn load() -> Result<Registry, RegistryError> {
        Registry::from_registrations(
            inventory::iter::<Registration>
                .into_iter()
                .copied()
                .collect(),
        )
    }

    pub fn from_registrations(mut checks: Vec<Registration>) -> Result<Registry, RegistryError> {
        checks.sort_by_key(|r| r.meta.code);
        let mut names = HashMap::new();
        let mut codes = HashMap::new();
        for r in &checks {
            if names.insert(r.meta.name, ()).is_some() {
                return Err(RegistryError::DuplicateName(r.meta.name.to_string()));
            }
            if codes.insert(r.meta.code, ()).is_some() {
                return Err(RegistryError::DuplicateCode(r.meta.code.to_string()));
            }
        }
        Ok(Registry { checks })
    }

    pub fn checks(&self) -> &[Registration] {
        &self.checks
    }

    /// Suites in code order, each once.
    pub fn suites(&self) -> Vec<&'static str> {
        let mut suites: Vec<&'static str> = Vec::new();
        for r in &self.checks {
            if !suites.contains(&r.meta.suite) {
                suites.push(r.meta.suite);
            }
        }
        suites
    }

    pub fn by_name(&self, name: &str) -> Option<&Registration> {
        self.checks
            .iter()
            .find(|r| r.meta.name == name || r.meta.code == name)
    }

    /// The closest check or suite name to a misspelt one, for "did you mean".
    pub fn suggest(&self, unknown: &str) -> Option<&'static str> {
        self.checks
            .iter()
            .flat_map(|r| [r.meta.name, r.meta.suite])
            .map(|candidate| (strsim::jaro_winkler(unknown, candidate), candidate))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, c)| c)
    }
}
