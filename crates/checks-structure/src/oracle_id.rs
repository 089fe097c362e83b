use crate::common::{apr_artifact, require_fields};
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr oracle` on the `.apr` names the model's architecture family. apr 0.72.3 puts it
    /// under `format.architecture`, not at the top level (the reference project read a
    /// top-level key and reported it empty). Without apr's contracts registry the `family`
    /// block is absent, so the format's architecture is the field compared; a missing one
    /// fails, naming the field.
    pub OracleArchitecture {
        code: "ORI001",
        name: "oracle-wrong-architecture",
        suite: "oracle-id",
        scope: Scope::ModelQuant,
        summary: "apr oracle names the model's architecture",
    }
}

impl Check for OracleArchitecture {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let expected = &cx.model()?.facts.architecture;
        let reply = parse::oracle(&*cx.apr(&Invocation::oracle(&apr_artifact(cx)?)?)?)?;
        require_fields(&reply.drift, "oracle", &["format", "mode"])?;
        let out = reply.value;
        if out.format.is_none() {
            return Err(CheckError::Schema {
                command: "oracle".into(),
                detail: format!("no `format` object in {} mode", out.mode),
            });
        }
        let got = out.architecture();
        let ok = got.is_some_and(|a| a.eq_ignore_ascii_case(expected));
        let message = match got {
            Some(a) if ok => format!("format.architecture is {a:?}"),
            Some(a) => format!("format.architecture is {a:?}, expected {expected:?}"),
            None => format!("format.architecture missing (expected {expected:?})"),
        };
        Ok(
            Verdict::judge(ok, Evidence::new(1, "fields"), message).with_facts(
                json!({ "expected": expected, "format": out.format, "family": out.family }),
            ),
        )
    }
}
