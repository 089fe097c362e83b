use serde::{Deserialize, Serialize};

/// Why a result has no verdict, in a word: what reports group errors by. Written into
/// `report.json` as its kebab-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    Timeout,
    Signal,
    OutputLimit,
    Interrupted,
    /// apr exited 101: a Rust panic, an apr bug.
    Panic,
    Exit,
    NotJson,
    Schema,
    AprClient,
    Spawn,
    StrayProcesses,
    ArtifactUnavailable,
    Oracle,
    Input,
    /// A pass that compared nothing.
    NoEvidence,
    Scope,
    NotApplicable,
    /// The second runtime (llama.cpp, in its worker) aborted, crashed or hung on a file.
    RuntimeFault,
    /// A check of tmgt's own panicked: a tmgt bug, told as this one result's error.
    HarnessPanic,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Signal => "signal",
            ErrorClass::OutputLimit => "output-limit",
            ErrorClass::Interrupted => "interrupted",
            ErrorClass::Panic => "panic",
            ErrorClass::Exit => "exit",
            ErrorClass::NotJson => "not-json",
            ErrorClass::Schema => "schema",
            ErrorClass::AprClient => "apr-client",
            ErrorClass::Spawn => "spawn",
            ErrorClass::StrayProcesses => "stray-processes",
            ErrorClass::ArtifactUnavailable => "artifact-unavailable",
            ErrorClass::Oracle => "oracle",
            ErrorClass::Input => "input",
            ErrorClass::NoEvidence => "no-evidence",
            ErrorClass::Scope => "scope",
            ErrorClass::NotApplicable => "not-applicable",
            ErrorClass::RuntimeFault => "runtime-fault",
            ErrorClass::HarnessPanic => "harness-panic",
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorClass;

    #[test]
    fn the_written_name_is_the_displayed_one() {
        for class in [
            ErrorClass::Timeout,
            ErrorClass::OutputLimit,
            ErrorClass::NotJson,
            ErrorClass::AprClient,
            ErrorClass::StrayProcesses,
            ErrorClass::ArtifactUnavailable,
            ErrorClass::NoEvidence,
            ErrorClass::NotApplicable,
            ErrorClass::RuntimeFault,
            ErrorClass::HarnessPanic,
        ] {
            let json = serde_json::to_value(class).unwrap();
            assert_eq!(json, class.as_str());
            assert_eq!(serde_json::from_value::<ErrorClass>(json).unwrap(), class);
        }
    }
}
