//! What counts as apr rejecting a damaged file, and as apr surviving one.

use apr_client::char_prefix;
use apr_client::{Captured, Termination, parse};
use serde::Serialize;
use tmgt_check::CheckError;

/// The exit code of a Rust panic.
const PANIC_EXIT: i32 = 101;
/// What Rust prints when a thread panics.
const PANIC_TEXT: &str = "panicked at";

/// What a subcommand must do with a damaged file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Refuse it: a non-zero exit other than a panic's, an error on stderr, within the timeout.
    Reject,
    /// `validate` of a file with NaN/Inf data: refuse it and, where it prints a document,
    /// count the non-finite values there.
    RejectNonFinite,
    /// Refuse it, naming the type code it cannot read (as a number in its error): a reader
    /// that says only "failed to load" leaves a user guessing which tensor and why.
    RejectNamingType(u32),
    /// Anything but a crash: exit on its own (any code but a panic's), within the timeout.
    Survive,
}

/// One (corruption x subcommand) case.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub corruption: String,
    pub subcommand: &'static str,
    pub ok: bool,
    /// What apr did, in a few words.
    pub outcome: String,
    pub command: String,
}

/// Judges one call. `Err` only when the run was interrupted.
pub fn judge(captured: &Captured, expect: Expect) -> Result<(bool, String), CheckError> {
    let stderr = captured.stderr_text();
    let first_error = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("error"))
        .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
        .map(|l| shorten(l.trim(), 160));
    let code = match captured.termination {
        Termination::Exited(code) => code,
        Termination::Cancelled => return Err(CheckError::Interrupted),
        Termination::TimedOut(after) => {
            return Ok((
                false,
                format!("no answer within the {}s timeout (killed)", after.as_secs()),
            ));
        }
        Termination::Signaled(signal) => {
            let why = stderr
                .lines()
                .find(|l| l.contains("memory allocation") || l.contains(PANIC_TEXT))
                .map(|l| format!(": {}", shorten(l.trim(), 160)))
                .unwrap_or_default();
            return Ok((
                false,
                format!("crashed, killed by {}{why}", signal_name(signal)),
            ));
        }
        Termination::OutputLimit(bytes) => {
            return Ok((
                false,
                format!("flooded its output past {bytes} bytes (killed)"),
            ));
        }
    };
    if code == PANIC_EXIT || stderr.contains(PANIC_TEXT) {
        let line = stderr
            .lines()
            .find(|l| l.contains(PANIC_TEXT))
            .map(|l| format!(": {}", shorten(l.trim(), 160)))
            .unwrap_or_default();
        return Ok((false, format!("panicked (exit {code}){line}")));
    }
    if expect == Expect::Survive {
        return Ok((true, format!("exit {code}, no crash")));
    }
    if code == 0 {
        return Ok((false, "accepted it (exit 0)".into()));
    }
    let Some(error) = first_error else {
        return Ok((false, format!("exit {code} with nothing on stderr")));
    };
    if expect == Expect::RejectNonFinite && !captured.stdout.iter().all(u8::is_ascii_whitespace) {
        // A document that says nothing about the NaN/Inf it was rejected for is no content
        // check: the refusal came from somewhere else.
        if let Ok(reply) = parse::validate(captured) {
            let v = &reply.value;
            let counted = v.content_total_nan.unwrap_or(0)
                + v.content_total_inf.unwrap_or(0)
                + v.total_nan.unwrap_or(0)
                + v.total_inf.unwrap_or(0);
            if counted == 0 {
                return Ok((
                    false,
                    format!("exit {code}, but its document counts no NaN or Inf ({error})"),
                ));
            }
            return Ok((
                true,
                format!("rejected (exit {code}), {counted} non-finite values counted"),
            ));
        }
    }
    if let Expect::RejectNamingType(id) = expect {
        // On stderr or in the document it printed (validate's names each failing tensor).
        let stdout = String::from_utf8_lossy(&captured.stdout);
        let named = [stderr.as_ref(), stdout.as_ref()]
            .into_iter()
            .flat_map(|text| text.split(|c: char| !c.is_ascii_digit()))
            .any(|word| word == id.to_string());
        if !named {
            return Ok((
                false,
                format!("rejected (exit {code}) without naming type {id}: {error}"),
            ));
        }
    }
    Ok((true, format!("rejected (exit {code}): {error}")))
}

fn signal_name(signal: i32) -> String {
    match signal {
        6 => "SIGABRT".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV".into(),
        7 => "SIGBUS".into(),
        4 => "SIGILL".into(),
        8 => "SIGFPE".into(),
        other => format!("signal {other}"),
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    format!("{}...", char_prefix(text, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(termination: Termination, stdout: &str, stderr: &str) -> Captured {
        Captured::from_parts(
            vec!["apr".into()],
            termination,
            stdout.as_bytes().to_vec(),
            stderr.as_bytes().to_vec(),
        )
    }

    #[test]
    fn a_rejection_needs_a_failing_exit_and_an_error() {
        let ok = judge(
            &captured(
                Termination::Exited(4),
                "",
                "error: Invalid APR format: bad magic\n",
            ),
            Expect::Reject,
        )
        .unwrap();
        assert!(ok.0 && ok.1.contains("Invalid APR format"), "{ok:?}");
        let accepted = judge(&captured(Termination::Exited(0), "{}", ""), Expect::Reject).unwrap();
        assert_eq!(accepted, (false, "accepted it (exit 0)".to_string()));
        let silent = judge(&captured(Termination::Exited(4), "", " \n"), Expect::Reject).unwrap();
        assert!(!silent.0 && silent.1.contains("nothing on stderr"));
    }

    #[test]
    fn panics_crashes_and_timeouts_fail_even_where_survival_is_enough() {
        for (t, stderr, word) in [
            (
                Termination::Exited(101),
                "thread 'main' panicked at src/x.rs:1:2:\n",
                "panicked",
            ),
            (
                Termination::Exited(8),
                "thread 'main' panicked at src/x.rs:1:2:\n",
                "panicked",
            ),
            (
                Termination::Signaled(6),
                "memory allocation of 99 bytes failed\n",
                "SIGABRT",
            ),
            (
                Termination::TimedOut(std::time::Duration::from_secs(120)),
                "",
                "120s timeout",
            ),
            (Termination::OutputLimit(10), "", "flooded"),
        ] {
            for expect in [Expect::Reject, Expect::Survive] {
                let (ok, msg) = judge(&captured(t, "", stderr), expect).unwrap();
                assert!(!ok && msg.contains(word), "{t:?} {expect:?}: {msg}");
            }
        }
        assert!(
            judge(&captured(Termination::Exited(0), "{}", ""), Expect::Survive)
                .unwrap()
                .0
        );
        assert!(matches!(
            judge(&captured(Termination::Cancelled, "", ""), Expect::Reject),
            Err(CheckError::Interrupted)
        ));
    }

    #[test]
    fn an_unknown_type_must_be_refused_by_its_number() {
        let expect = Expect::RejectNamingType(250);
        let judged = |code, stdout: &str, stderr: &str| {
            judge(&captured(Termination::Exited(code), stdout, stderr), expect).unwrap()
        };
        let (ok, msg) = judged(8, "", "error: Unsupported quantization type: 250\n");
        assert!(ok, "{msg}");
        // validate names it in the document it prints, not on stderr.
        let doc = r#"{"checks":[{"detail":"is a type ggml does not define (ggml type 250)"}]}"#;
        assert!(judged(5, doc, "error: Validation failed\n").0);
        let (ok, msg) = judged(5, "", "error: tensor index unreadable (invalid dtype)\n");
        assert!(!ok && msg.contains("without naming type 250"), "{msg}");
        // A number that merely contains the id is not the id.
        assert!(!judged(5, "", "error: type 2501 at offset 1250\n").0);
        assert_eq!(judged(0, "{}", "").1, "accepted it (exit 0)");
    }

    #[test]
    fn validate_must_count_the_non_finite_values_it_rejects() {
        let doc = |nan: u64| {
            format!(
                r#"{{"model":"m","format":"apr","passed":false,"checks":[],"total_checks":0,"failed":0,"content_total_nan":{nan},"content_total_inf":0}}"#
            )
        };
        let err = "error: Validation failed\n";
        let (ok, msg) = judge(
            &captured(Termination::Exited(5), &doc(64), err),
            Expect::RejectNonFinite,
        )
        .unwrap();
        assert!(ok, "{msg}");
        let (ok, msg) = judge(
            &captured(Termination::Exited(5), &doc(0), err),
            Expect::RejectNonFinite,
        )
        .unwrap();
        assert!(!ok && msg.contains("counts no NaN"), "{msg}");
        // No document: the refusal alone is judged.
        assert!(
            judge(
                &captured(Termination::Exited(5), "", err),
                Expect::RejectNonFinite
            )
            .unwrap()
            .0
        );
    }
}
