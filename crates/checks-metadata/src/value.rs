//! A metadata value as both sides state it, compared the way a runtime would read it.

use crate::spelling::same_token_text;
use std::fmt;

/// One field's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MetaValue {
    Int(u64),
    /// Compared at float32 precision: every format stores these fields as f32 somewhere.
    Float(f64),
    Text(String),
    Flag(bool),
    /// A list compared element by element (merges, token types, a file's token texts).
    List(Vec<String>),
    /// Token texts as HF spells them: an entry equals a file's entry that differs only in
    /// writing a space as SentencePiece's `▁` ([`crate::spelling::same_token_text`]).
    Tokens(Vec<String>),
    /// The field is not set (a pad token the source does not have).
    Unset,
}

impl MetaValue {
    /// Whether a runtime reading `self` behaves as one reading `other`; `None` when they agree,
    /// else what differs (for lists: the first differing position with both entries).
    pub(crate) fn differs_from(&self, other: &MetaValue) -> Option<String> {
        match (self, other) {
            (MetaValue::Float(a), MetaValue::Float(b)) => {
                let same =
                    (*a as f32) == (*b as f32) || (a - b).abs() <= 1e-6 * a.abs().max(b.abs());
                (!same).then(|| format!("{} where {}", self, other))
            }
            (MetaValue::List(a), MetaValue::List(b)) => list_difference(a, b, |x, y| x == y),
            (MetaValue::List(a) | MetaValue::Tokens(a), MetaValue::Tokens(b))
            | (MetaValue::Tokens(a), MetaValue::List(b)) => {
                list_difference(a, b, |x, y| same_token_text(y, x))
            }
            (a, b) => (a != b).then(|| format!("{a} where {b}")),
        }
    }

    /// How many compared items it holds, for the evidence count.
    pub(crate) fn items(&self) -> usize {
        match self {
            MetaValue::List(v) | MetaValue::Tokens(v) => v.len(),
            _ => 1,
        }
    }
}

/// The first differing entry of two lists with both entries, else a length difference.
fn list_difference(
    a: &[String],
    b: &[String],
    same: impl Fn(&str, &str) -> bool,
) -> Option<String> {
    if let Some(at) = a.iter().zip(b).position(|(x, y)| !same(x, y)) {
        return Some(format!(
            "entry {at} is {:?} where it should be {:?} ({} entries, {} expected)",
            a[at],
            b[at],
            a.len(),
            b.len()
        ));
    }
    (a.len() != b.len()).then(|| {
        format!(
            "{} entries where {} are expected (the first {} agree)",
            a.len(),
            b.len(),
            a.len().min(b.len())
        )
    })
}

impl fmt::Display for MetaValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaValue::Int(v) => write!(f, "{v}"),
            MetaValue::Float(v) => write!(f, "{v}"),
            MetaValue::Text(v) if v.chars().count() > 60 => {
                let head: String = v.chars().take(60).collect();
                write!(f, "{head:?}… ({} bytes)", v.len())
            }
            MetaValue::Text(v) => write!(f, "{v:?}"),
            MetaValue::Flag(v) => write!(f, "{v}"),
            MetaValue::List(v) | MetaValue::Tokens(v) => write!(f, "{} entries", v.len()),
            MetaValue::Unset => f.write_str("unset"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_agree_at_f32_precision_and_lists_name_the_first_difference() {
        assert_eq!(
            MetaValue::Float(1e-5).differs_from(&MetaValue::Float(9.999999747378752e-06)),
            None
        );
        assert!(
            MetaValue::Float(1e-6)
                .differs_from(&MetaValue::Float(1e-5))
                .is_some()
        );
        let a = MetaValue::List(vec!["a".into(), "b".into()]);
        let b = MetaValue::List(vec!["a".into(), "c".into()]);
        assert_eq!(
            a.differs_from(&b).unwrap(),
            "entry 1 is \"b\" where it should be \"c\" (2 entries, 2 expected)"
        );
        let short = MetaValue::List(vec!["a".into()]);
        assert!(
            short
                .differs_from(&a)
                .unwrap()
                .starts_with("1 entries where 2")
        );
        assert_eq!(MetaValue::Int(3).differs_from(&MetaValue::Int(3)), None);
        assert_eq!(
            MetaValue::Unset.differs_from(&MetaValue::Int(2)).unwrap(),
            "unset where 2"
        );
    }
}
