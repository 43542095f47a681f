//! Strict JSON for untrusted signature envelopes: a value tree that keeps object members in
//! document order and rejects duplicate keys at any depth.
//!
//! Go's `encoding/json` (what cosign uses) matches object keys to struct fields without regard
//! to ASCII case and keeps the last duplicate, so `{"docker-manifest-digest": A,
//! "Docker-manifest-digest": B}` means B to cosign but could mean A to another parser.
//! This module rejects both exact duplicates and keys that differ only in ASCII case, so no two
//! readers can disagree about what a signed payload says.
//! Nesting depth is bounded by serde_json's recursion limit (128); trailing data is rejected.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value with object members in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, kept as serde_json parsed it.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object; keys are unique even ignoring ASCII case.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// A short name of the value's JSON type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// The member of an object whose key equals `key` ignoring ASCII case (as Go matches
    /// struct fields), or `None` for a missing key or a non-object.
    pub fn member(&self, key: &str) -> Option<&Value> {
        let Value::Object(members) = self else { return None };
        members.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
    }

    /// The string content, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// Parses `bytes` as exactly one strict JSON value.
pub fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(bytes)
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members: Vec<(String, Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Some((earlier, _)) = members.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key)) {
                let msg = if *earlier == key {
                    format!("duplicate key `{key}`")
                } else {
                    format!("keys `{earlier}` and `{key}` differ only in case")
                };
                return Err(de::Error::custom(msg));
            }
            let value = map.next_value()?;
            members.push((key, value));
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        let got = match parse(input.as_bytes()) {
            Ok(v) => format!("ok {}", v.kind()),
            Err(e) => format!("err {e}"),
        };
        assert_eq!(got, expect, "input {input}");
    }

    #[test]
    fn strictness() {
        check(r#"{"a":1,"b":{"c":null}}"#, "ok object");
        check(r#"{"a":1,"a":2}"#, "err duplicate key `a` at line 1 column 10");
        check(
            r#"{"x":{"k":1,"K":2}}"#,
            "err keys `k` and `K` differ only in case at line 1 column 15",
        );
        check(r#"{"a":1} {}"#, "err trailing characters at line 1 column 9");
        check(r#"[1,2"#, "err EOF while parsing a list at line 1 column 4");
        check("\"\\ud800\"", "err unexpected end of hex escape at line 1 column 8");
    }

    #[test]
    fn member_lookup_ignores_ascii_case() {
        let v = parse(br#"{"Docker-Manifest-Digest":"x"}"#).unwrap();
        assert_eq!(v.member("docker-manifest-digest").and_then(Value::as_str), Some("x"));
        assert_eq!(v.member("other"), None);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let err = parse(deep.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
}
