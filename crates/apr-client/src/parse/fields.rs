//! Field extraction from a `serde_json::Value` that records every expected field that is
//! missing or of the wrong type, instead of silently defaulting it.

use serde::Serialize;
use serde_json::Value;

/// One field of apr's output that does not match what the client expects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// JSON path of the field, e.g. `logprobs.steps[3].top[0].logprob`.
    pub path: String,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with a field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The field is absent (or null where a value is required).
    Missing,
    /// The field has another JSON type, or a value the client cannot represent.
    WrongType {
        /// What the client expects.
        expected: &'static str,
        /// What apr printed.
        found: String,
    },
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            Problem::Missing => write!(f, "{}: missing", self.path),
            Problem::WrongType { expected, found } => {
                write!(f, "{}: expected {expected}, found {found}", self.path)
            }
        }
    }
}

/// JSON type name of a value, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Collects problems while a document is read.
#[derive(Debug, Default)]
pub(crate) struct Cx {
    pub drift: Vec<FieldProblem>,
}

/// A position in the document: the value there (if any) and its path.
#[derive(Clone, Debug)]
pub(crate) struct Node<'v> {
    pub value: Option<&'v Value>,
    pub path: String,
    /// The absence of this node was already reported; don't report its children.
    reported: bool,
}

impl<'v> Node<'v> {
    pub fn root(value: &'v Value) -> Node<'v> {
        Node {
            value: Some(value),
            path: String::new(),
            reported: false,
        }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The raw value under `key` (None when absent or when this node is not an object).
    pub fn raw(&self, key: &str) -> Option<&'v Value> {
        self.value.and_then(|v| v.get(key))
    }

    /// Whether `key` is present with a non-null value.
    pub fn has(&self, key: &str) -> bool {
        self.raw(key).is_some_and(|v| !v.is_null())
    }

    /// Child node under `key` (no problem recorded).
    pub fn at(&self, key: &str) -> Node<'v> {
        Node {
            value: self.raw(key),
            path: self.child_path(key),
            reported: self.reported,
        }
    }
}

/// Converts a JSON value to the Rust type, or says why it cannot.
pub(crate) trait FromJson: Sized {
    const EXPECTED: &'static str;
    fn from_json(v: &Value) -> Option<Self>;
}

impl FromJson for String {
    const EXPECTED: &'static str = "string";
    fn from_json(v: &Value) -> Option<Self> {
        v.as_str().map(str::to_owned)
    }
}

impl FromJson for bool {
    const EXPECTED: &'static str = "bool";
    fn from_json(v: &Value) -> Option<Self> {
        v.as_bool()
    }
}

impl FromJson for u64 {
    const EXPECTED: &'static str = "non-negative integer";
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
                    .map(|f| f as u64)
            }),
            _ => None,
        }
    }
}

impl FromJson for u32 {
    const EXPECTED: &'static str = "32-bit unsigned integer";
    fn from_json(v: &Value) -> Option<Self> {
        u64::from_json(v).and_then(|n| u32::try_from(n).ok())
    }
}

impl FromJson for i64 {
    const EXPECTED: &'static str = "integer";
    fn from_json(v: &Value) -> Option<Self> {
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
    }
}

/// Floats: numbers, plus the non-JSON spellings that hand-rolled output and the lenient
/// reader turn into strings (`"NaN"`, `"inf"`, `"-inf"`). A JSON `null` is read as NaN,
/// because serde_json prints a NaN float as `null`.
impl FromJson for f64 {
    const EXPECTED: &'static str = "number";
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::Null => Some(f64::NAN),
            Value::String(s) => match s.as_str() {
                "NaN" | "nan" | "-NaN" | "-nan" => Some(f64::NAN),
                "inf" | "Infinity" | "+inf" => Some(f64::INFINITY),
                "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Any JSON value, kept as is.
impl FromJson for Value {
    const EXPECTED: &'static str = "any value";
    fn from_json(v: &Value) -> Option<Self> {
        Some(v.clone())
    }
}

/// Short description of a found value for drift messages.
fn describe(v: &Value) -> String {
    let s = v.to_string();
    let cut = crate::char_prefix(&s, 40);
    let ellipsis = if cut.len() < s.len() { "…" } else { "" };
    format!("{} {cut}{ellipsis}", type_name(v))
}

impl Cx {
    pub fn missing(&mut self, node: &Node<'_>, key: &str) {
        if !node.reported {
            self.drift.push(FieldProblem {
                path: node.child_path(key),
                problem: Problem::Missing,
            });
        }
    }

    pub fn wrong(&mut self, path: String, expected: &'static str, found: &Value) {
        self.drift.push(FieldProblem {
            path,
            problem: Problem::WrongType {
                expected,
                found: describe(found),
            },
        });
    }

    /// A required field. Missing, null (except for floats) or mistyped → recorded, `None`.
    pub fn get<T: FromJson>(&mut self, node: &Node<'_>, key: &str) -> Option<T> {
        match node.raw(key) {
            None => {
                self.missing(node, key);
                None
            }
            Some(Value::Null) if T::EXPECTED != f64::EXPECTED && T::EXPECTED != "any value" => {
                self.missing(node, key);
                None
            }
            Some(v) => {
                let out = T::from_json(v);
                if out.is_none() {
                    self.wrong(node.child_path(key), T::EXPECTED, v);
                }
                out
            }
        }
    }

    /// A required field with a conservative fallback used only when it is recorded as drift.
    pub fn req<T: FromJson + Default>(&mut self, node: &Node<'_>, key: &str) -> T {
        self.get(node, key).unwrap_or_default()
    }

    /// A required float; missing or mistyped → recorded, NaN (which fails every comparison).
    pub fn req_f64(&mut self, node: &Node<'_>, key: &str) -> f64 {
        self.get(node, key).unwrap_or(f64::NAN)
    }

    /// A field apr documents as optional: absent or null → `None` without a problem;
    /// present with the wrong type → recorded, `None`.
    pub fn opt<T: FromJson>(&mut self, node: &Node<'_>, key: &str) -> Option<T> {
        match node.raw(key) {
            None | Some(Value::Null) => None,
            Some(v) => {
                let out = T::from_json(v);
                if out.is_none() {
                    self.wrong(node.child_path(key), T::EXPECTED, v);
                }
                out
            }
        }
    }

    /// An optional float: absent → None; null → NaN (serde's spelling of NaN).
    pub fn opt_f64(&mut self, node: &Node<'_>, key: &str) -> Option<f64> {
        match node.raw(key) {
            None => None,
            Some(v) => {
                let out = f64::from_json(v);
                if out.is_none() {
                    self.wrong(node.child_path(key), f64::EXPECTED, v);
                }
                out
            }
        }
    }

    /// A required object: returns its node (absent → recorded once, children not reported).
    pub fn obj<'v>(&mut self, node: &Node<'v>, key: &str) -> Node<'v> {
        let mut child = node.at(key);
        match child.value {
            Some(Value::Object(_)) => {}
            None | Some(Value::Null) => {
                self.missing(node, key);
                child.value = None;
                child.reported = true;
            }
            Some(v) => {
                self.wrong(child.path.clone(), "object", v);
                child.value = None;
                child.reported = true;
            }
        }
        child
    }

    /// An optional object: absent/null → None; mistyped → recorded, None.
    pub fn opt_obj<'v>(&mut self, node: &Node<'v>, key: &str) -> Option<Node<'v>> {
        let child = node.at(key);
        match child.value {
            Some(Value::Object(_)) => Some(child),
            None | Some(Value::Null) => None,
            Some(v) => {
                self.wrong(child.path.clone(), "object", v);
                None
            }
        }
    }

    fn array_items<'v>(&mut self, node: &Node<'v>, key: &str, required: bool) -> Vec<Node<'v>> {
        let child = node.at(key);
        match child.value {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| Node {
                    value: Some(v),
                    path: format!("{}[{i}]", child.path),
                    reported: false,
                })
                .collect(),
            None | Some(Value::Null) => {
                if required {
                    self.missing(node, key);
                }
                Vec::new()
            }
            Some(v) => {
                self.wrong(child.path.clone(), "array", v);
                Vec::new()
            }
        }
    }

    /// A required array of nodes (missing → recorded, empty).
    pub fn arr<'v>(&mut self, node: &Node<'v>, key: &str) -> Vec<Node<'v>> {
        self.array_items(node, key, true)
    }

    /// An optional array of nodes (absent/null → empty, no problem).
    pub fn opt_arr<'v>(&mut self, node: &Node<'v>, key: &str) -> Vec<Node<'v>> {
        self.array_items(node, key, false)
    }

    /// Items of an array node itself (the node must be an array).
    pub fn items<'v>(&mut self, node: &Node<'v>) -> Vec<Node<'v>> {
        match node.value {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| Node {
                    value: Some(v),
                    path: format!("{}[{i}]", node.path),
                    reported: false,
                })
                .collect(),
            Some(v) => {
                self.wrong(node.path.clone(), "array", v);
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// Converts every element of an array node; mistyped elements are recorded and skipped.
    pub fn values<T: FromJson>(&mut self, items: &[Node<'_>]) -> Vec<T> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = item.value {
                match T::from_json(v) {
                    Some(x) => out.push(x),
                    None => self.wrong(item.path.clone(), T::EXPECTED, v),
                }
            }
        }
        out
    }

    /// A required array of scalars.
    pub fn vec<T: FromJson>(&mut self, node: &Node<'_>, key: &str) -> Vec<T> {
        let items = self.arr(node, key);
        self.values(&items)
    }
}

/// A JSON object read into a typed model: every expected field is read by its own rules and
/// its problems are recorded in `cx`. Implemented by `doc_struct!` (or by hand).
pub(crate) trait FromDoc: Sized {
    fn read(cx: &mut Cx, n: &Node<'_>) -> Self;
}

/// How a field of this type is read from its parent: scalars and enums are required,
/// `Option<T>` is optional, `Vec<T>` is a required array.
pub(crate) trait ReadField: Sized {
    fn read_field(cx: &mut Cx, n: &Node<'_>, key: &str) -> Self;
}

/// How `Option<Self>` is read: absent (or null) is `None` without a problem.
pub(crate) trait OptField: Sized {
    fn read_opt(cx: &mut Cx, n: &Node<'_>, key: &str) -> Option<Self>;
}

/// How the items of an array of `Self` are read.
pub(crate) trait Element: Sized {
    fn read_items(cx: &mut Cx, items: &[Node<'_>]) -> Vec<Self>;
}

/// Scalars: required → [`Cx::req`], optional → [`Cx::opt`], arrays → [`Cx::values`].
macro_rules! scalar_fields {
    ($($ty:ty),*) => {$(
        impl ReadField for $ty {
            fn read_field(cx: &mut Cx, n: &Node<'_>, key: &str) -> Self {
                cx.req(n, key)
            }
        }

        impl OptField for $ty {
            fn read_opt(cx: &mut Cx, n: &Node<'_>, key: &str) -> Option<Self> {
                cx.opt(n, key)
            }
        }

        impl Element for $ty {
            fn read_items(cx: &mut Cx, items: &[Node<'_>]) -> Vec<Self> {
                cx.values(items)
            }
        }
    )*};
}

scalar_fields!(String, bool, u64, u32, i64, Value);

/// Floats fall back to NaN and read a null as NaN ([`Cx::req_f64`], [`Cx::opt_f64`]).
impl ReadField for f64 {
    fn read_field(cx: &mut Cx, n: &Node<'_>, key: &str) -> Self {
        cx.req_f64(n, key)
    }
}

impl OptField for f64 {
    fn read_opt(cx: &mut Cx, n: &Node<'_>, key: &str) -> Option<Self> {
        cx.opt_f64(n, key)
    }
}

impl Element for f64 {
    fn read_items(cx: &mut Cx, items: &[Node<'_>]) -> Vec<Self> {
        cx.values(items)
    }
}

/// Nested objects: optional → [`Cx::opt_obj`], arrays → each item read as a document.
impl<T: FromDoc> OptField for T {
    fn read_opt(cx: &mut Cx, n: &Node<'_>, key: &str) -> Option<Self> {
        cx.opt_obj(n, key).map(|o| T::read(cx, &o))
    }
}

impl<T: FromDoc> Element for T {
    fn read_items(cx: &mut Cx, items: &[Node<'_>]) -> Vec<Self> {
        items.iter().map(|i| T::read(cx, i)).collect()
    }
}

impl<T: OptField> ReadField for Option<T> {
    fn read_field(cx: &mut Cx, n: &Node<'_>, key: &str) -> Self {
        T::read_opt(cx, n, key)
    }
}

/// A required array ([`Cx::arr`]: missing → recorded, empty).
impl<T: Element> ReadField for Vec<T> {
    fn read_field(cx: &mut Cx, n: &Node<'_>, key: &str) -> Self {
        let items = cx.arr(n, key);
        T::read_items(cx, &items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_missing_and_wrong_types() {
        let doc = json!({"a": "x", "b": "not a number", "c": null, "o": {"k": 1}});
        let root = Node::root(&doc);
        let mut cx = Cx::default();
        assert_eq!(cx.req::<String>(&root, "a"), "x");
        assert_eq!(cx.get::<u64>(&root, "b"), None);
        assert_eq!(cx.get::<u64>(&root, "zz"), None);
        assert_eq!(cx.opt::<u64>(&root, "c"), None);
        let o = cx.obj(&root, "o");
        assert_eq!(cx.req::<u64>(&o, "k"), 1);
        assert_eq!(cx.get::<bool>(&o, "missing"), None);
        let gone = cx.obj(&root, "gone");
        assert_eq!(cx.get::<bool>(&gone, "child"), None);
        let paths: Vec<String> = cx.drift.iter().map(ToString::to_string).collect();
        assert_eq!(
            paths,
            [
                "b: expected non-negative integer, found string \"not a number\"",
                "zz: missing",
                "o.missing: missing",
                "gone: missing",
            ]
        );
    }

    #[test]
    fn floats_accept_nan_spellings() {
        let doc = json!({"n": null, "s": "NaN", "i": "-inf", "x": 1.5});
        let root = Node::root(&doc);
        let mut cx = Cx::default();
        assert!(cx.req_f64(&root, "n").is_nan());
        assert!(cx.req_f64(&root, "s").is_nan());
        assert_eq!(cx.req_f64(&root, "i"), f64::NEG_INFINITY);
        assert!((cx.req_f64(&root, "x") - 1.5).abs() < f64::EPSILON);
        assert!(cx.req_f64(&root, "absent").is_nan());
        assert_eq!(cx.drift.len(), 1);
    }

    #[test]
    fn arrays_report_element_paths() {
        let doc = json!({"t": [1, "two", 3]});
        let root = Node::root(&doc);
        let mut cx = Cx::default();
        assert_eq!(cx.vec::<u32>(&root, "t"), vec![1, 3]);
        assert_eq!(cx.drift[0].path, "t[1]");
    }
}
