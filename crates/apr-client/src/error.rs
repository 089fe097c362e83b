//! Errors of the client, one variant per stage of a call.

use std::path::PathBuf;
use std::time::Duration;

/// Why an `apr` call could not produce a usable result.
///
/// A check that gets one of these could not run; it is a harness error, not a failed check.
#[derive(Debug, thiserror::Error)]
pub enum AprError {
    /// No `apr` binary could be found.
    #[error(
        "apr binary not found ({detail}); pass its path explicitly, set TMGT_APR=/path/to/apr, \
         or put `apr` on PATH (cargo install apr-cli)"
    )]
    NotFound {
        /// What was tried.
        detail: String,
    },

    /// A path argument was relative or contained `..`.
    ///
    /// apr rewrites a missing relative path into an `hf://` download and its loader rejects any
    /// path containing `..`, so the client only passes absolute, normalised paths.
    #[error(
        "path {path:?} must be absolute and free of `..` (apr would treat it as a hub reference)"
    )]
    RelativePath {
        /// The offending path.
        path: PathBuf,
    },

    /// An argument cannot be passed to apr as given.
    #[error("invalid argument for `apr {subcommand}`: {detail}")]
    InvalidArgument {
        /// The subcommand being built.
        subcommand: String,
        /// What is wrong.
        detail: String,
    },

    /// The binary could not be hashed or started.
    #[error("could not start {binary:?}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The call ran past its time limit and was killed (whole process group).
    #[error("`{}` timed out after {after:?} and was killed", argv.join(" "))]
    TimedOut {
        /// Full argv, binary first.
        argv: Vec<String>,
        /// The limit that was hit.
        after: Duration,
    },

    /// apr was killed by a signal it did not get from us.
    #[error("`{}` was killed by signal {signal}", argv.join(" "))]
    Signaled {
        /// Full argv, binary first.
        argv: Vec<String>,
        /// Signal number.
        signal: i32,
    },

    /// apr wrote more than the capture limit and was killed.
    #[error("`{}` wrote more than {limit} bytes and was killed", argv.join(" "))]
    OutputLimit {
        /// Full argv, binary first.
        argv: Vec<String>,
        /// The byte limit per stream.
        limit: u64,
    },

    /// The caller cancelled the call (tmgt was interrupted) and its process group was killed.
    #[error("`{}` was cancelled: tmgt was interrupted", argv.join(" "))]
    Cancelled {
        /// Full argv, binary first.
        argv: Vec<String>,
    },

    /// apr exited non-zero without printing a document on stdout.
    #[error("apr exited with code {code} ({meaning}): {}\n{stderr_tail}", headline(.stderr_tail))]
    Exit {
        /// The exit code.
        code: i32,
        /// What apr's exit-code table says it means.
        meaning: &'static str,
        /// The last lines of stderr (apr prints `error: <message>` there).
        stderr_tail: String,
    },

    /// stdout was expected to hold a JSON document but does not.
    #[error("apr printed no JSON document on stdout (exit 0); stdout starts with: {snippet:?}")]
    NotJson {
        /// The start of stdout.
        snippet: String,
    },

    /// The JSON document does not have the shape of this subcommand's output at all
    /// (for example an object where an array is expected).
    #[error("apr's JSON output has an unexpected shape: {detail}")]
    Shape {
        /// What was expected and found.
        detail: String,
    },

    /// The binary is older than the minimum supported version.
    #[error("apr {found} is older than the minimum supported {minimum}; install a newer apr-cli")]
    UnsupportedVersion {
        /// Version reported by `apr --version --json`.
        found: String,
        /// Required minimum.
        minimum: String,
    },
}

/// apr's documented meaning of an exit code (`apr-cli` `src/error.rs`, `exit_code_value`).
#[must_use]
pub fn exit_code_meaning(code: i32) -> &'static str {
    match code {
        0 => "success",
        1 => "library error",
        2 => "usage error (bad flags or arguments)",
        3 => "file not found, not a file, or companion file missing",
        4 => "invalid format or input",
        5 => "validation or gate failed",
        6 => "model load failed",
        7 => "I/O error",
        8 => "inference failed (including an empty completion)",
        9 => "feature not compiled into this apr build",
        10 => "network error (or --offline with a hub reference)",
        11 => "HTTP 404",
        12 => "not implemented or refused architecture",
        13 => "parity gate failed",
        14 => "requested backend unavailable (fell back)",
        15 => "constraint refused",
        101 => "panic (an apr bug)",
        _ => "undocumented exit code",
    }
}

/// What apr's stderr says went wrong: its `error:` line, or a panic's location and message,
/// or else the last line.
/// The line of apr's stderr that says what went wrong: its last `error:` line, else a
/// panic with its message, else the last line.
#[must_use]
pub fn headline(stderr_tail: &str) -> String {
    let lines: Vec<&str> = stderr_tail
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if let Some(error) = lines.iter().rev().find(|l| l.starts_with("error:")) {
        return (*error).to_string();
    }
    if let Some(i) = lines.iter().position(|l| l.contains("panicked at")) {
        return lines[i..lines.len().min(i + 2)].join(" ");
    }
    lines
        .last()
        .map_or_else(|| "(nothing on stderr)".to_string(), |l| (*l).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meanings_cover_documented_codes() {
        for code in 0..=15 {
            assert_ne!(exit_code_meaning(code), "undocumented exit code", "{code}");
        }
        assert_eq!(exit_code_meaning(101), "panic (an apr bug)");
        assert_eq!(exit_code_meaning(42), "undocumented exit code");
    }

    #[test]
    fn messages_are_actionable() {
        let e = AprError::Exit {
            code: 3,
            meaning: exit_code_meaning(3),
            stderr_tail: "error: File not found: /m.apr".into(),
        };
        let s = e.to_string();
        assert!(s.contains("code 3") && s.contains("File not found"), "{s}");
    }

    #[test]
    fn headline_picks_the_error_line_or_the_panic() {
        assert_eq!(headline("[PMAT] note\nerror: boom\n"), "error: boom");
        assert_eq!(
            headline("thread 'main' panicked at src/x.rs:1:2:\nattempt to divide by zero\nnote: x"),
            "thread 'main' panicked at src/x.rs:1:2: attempt to divide by zero"
        );
        assert_eq!(headline("just this"), "just this");
        assert_eq!(headline(""), "(nothing on stderr)");
    }
}
