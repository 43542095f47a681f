//! A YAML document as a tree of nodes, each with its 1-based line and column.
//!
//! Built from granit-parser's event stream. Plain scalars are resolved the way LinuxKit's
//! decoder (yaml.v3 into `interface{}`) resolves them, because LinuxKit validates that
//! generic value against its JSON schema: `~`/`null`/empty are null, only `true`/`false`
//! (three capitalizations) are booleans (`yes`/`on` stay strings), integers use Go's base
//! prefixes (`0x`, `0o`, `0b`, and a leading `0` for octal, so an unquoted `0644` is the
//! integer 420) with `_` ignored, and dates are timestamps. Quoted and block scalars are
//! strings. Aliases are expanded (with a size budget), `<<` merge keys are applied, and
//! duplicate keys are reported.
//!
//! Not supported: tags other than the core ones (`!!str`, `!!int`, ...) and `!`, and more
//! than one document per file.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, Span, Tag};

/// The most nodes a document may expand to through aliases.
const NODE_BUDGET: usize = 200_000;

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub line: usize,
    pub column: usize,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A scalar: its text after escape processing, and what it resolves to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    pub text: String,
    pub value: Value,
}

/// The type a scalar resolves to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float,
    Timestamp,
    Str,
}

/// A problem found while reading the YAML itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Node {
    /// A short description for "expected ..., found ..." messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Scalar(s) => match s.value {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Int(_) => "an integer",
                Value::Float => "a float",
                Value::Timestamp => "a timestamp",
                Value::Str => "a string",
            },
        }
    }

    /// The text of a scalar that resolved to a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(Scalar { text, value: Value::Str }) => Some(text),
            _ => None,
        }
    }
}

/// Parses one YAML document. Errors that do not stop parsing (duplicate keys) come back next
/// to the tree; a syntax error returns no tree.
pub(crate) fn parse(text: &str) -> (Option<Node>, Vec<YamlError>) {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let mut documents = 0usize;
    let mut root = None;
    for item in &mut parser {
        let (event, span) = match item {
            Ok(pair) => pair,
            Err(error) => {
                let marker = error.marker();
                builder.errors.push(YamlError {
                    line: marker.line().max(1),
                    column: marker.col() + 1,
                    message: format!("invalid YAML: {}", error.info()),
                });
                return (None, builder.errors);
            }
        };
        match event {
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    builder.errors.push(YamlError {
                        line: span.start.line(),
                        column: span.start.col() + 1,
                        message: "a configuration file holds one YAML document, found a second one"
                            .into(),
                    });
                    return (None, builder.errors);
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::Anchor(..) | Event::UnresolvedAlias(..) => {}
            other => match builder.event(other, span) {
                Ok(Some(node)) => root = Some(node),
                Ok(None) => {}
                Err(error) => {
                    builder.errors.push(error);
                    return (None, builder.errors);
                }
            },
        }
    }
    if root.is_none() && builder.errors.is_empty() {
        builder.errors.push(YamlError {
            line: 1,
            column: 1,
            message: "empty configuration: expected a mapping with keys such as kernel, init, onboot, services".into(),
        });
    }
    (root, builder.errors)
}

enum Frame {
    Seq { items: Vec<Node>, line: usize, column: usize, anchor: usize },
    Map { entries: Vec<(Node, Node)>, key: Option<Node>, line: usize, column: usize, anchor: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    n_nodes: usize,
    errors: Vec<YamlError>,
}

fn position(span: &Span) -> (usize, usize) {
    (span.start.line().max(1), span.start.col() + 1)
}

impl Builder {
    /// Feeds one event; returns the root node when the document's top node completes.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<Option<Node>, YamlError> {
        let (line, column) = position(&span);
        let fail = |message: String| YamlError { line, column, message };
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve(&text, style, tag.as_deref()).map_err(fail)?;
                let node = Node {
                    kind: Kind::Scalar(Scalar { text: text.into_owned(), value }),
                    line,
                    column,
                };
                self.complete(node, anchor)
            }
            Event::SequenceStart(_, anchor, tag) => {
                check_collection_tag(tag.as_deref(), "seq").map_err(fail)?;
                self.stack.push(Frame::Seq { items: Vec::new(), line, column, anchor });
                Ok(None)
            }
            Event::MappingStart(_, anchor, tag) => {
                check_collection_tag(tag.as_deref(), "map").map_err(fail)?;
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    line,
                    column,
                    anchor,
                });
                Ok(None)
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq { items, line, column, anchor }) => {
                    self.complete(Node { kind: Kind::Seq(items), line, column }, anchor)
                }
                _ => Err(fail("invalid YAML: unbalanced sequence".into())),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map { entries, line, column, anchor, .. }) => {
                    let entries = self.finish_map(entries);
                    self.complete(Node { kind: Kind::Map(entries), line, column }, anchor)
                }
                _ => Err(fail("invalid YAML: unbalanced mapping".into())),
            },
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err(fail("invalid YAML: alias to an unknown anchor".into()));
                };
                let size = count_nodes(target);
                self.n_nodes = self.n_nodes.saturating_add(size);
                if self.n_nodes > NODE_BUDGET {
                    return Err(fail(format!(
                        "document too large: aliases expand to more than {NODE_BUDGET} nodes"
                    )));
                }
                let node = target.clone();
                self.complete(node, 0)
            }
            _ => Ok(None),
        }
    }

    fn complete(&mut self, node: Node, anchor: usize) -> Result<Option<Node>, YamlError> {
        self.n_nodes = self.n_nodes.saturating_add(1);
        if self.n_nodes > NODE_BUDGET {
            return Err(YamlError {
                line: node.line,
                column: node.column,
                message: format!("document too large: more than {NODE_BUDGET} nodes"),
            });
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => Ok(Some(node)),
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(None)
            }
            Some(Frame::Map { entries, key, .. }) => {
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
                Ok(None)
            }
        }
    }

    /// Applies `<<` merge keys and drops (and reports) duplicate keys.
    fn finish_map(&mut self, entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
        let mut explicit: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
        let mut merged: Vec<(Node, Node)> = Vec::new();
        for (key, value) in entries {
            if is_merge_key(&key) {
                let sources: Vec<Node> = match value.kind {
                    Kind::Map(_) => vec![value],
                    Kind::Seq(items) => items,
                    _ => {
                        self.errors.push(YamlError {
                            line: value.line,
                            column: value.column,
                            message: format!(
                                "merge key << expects a mapping or a list of mappings, found {}",
                                value.describe()
                            ),
                        });
                        continue;
                    }
                };
                for source in sources {
                    match source.kind {
                        Kind::Map(source_entries) => merged.extend(source_entries),
                        _ => self.errors.push(YamlError {
                            line: source.line,
                            column: source.column,
                            message: format!(
                                "merge key << expects mappings, found {}",
                                source.describe()
                            ),
                        }),
                    }
                }
                continue;
            }
            let duplicate = explicit.iter().find(|(k, _)| same_key(k, &key)).map(|(k, _)| k.line);
            if let Some(first_line) = duplicate {
                self.errors.push(YamlError {
                    line: key.line,
                    column: key.column,
                    message: format!(
                        "duplicate key {} (first defined at line {first_line})",
                        key_text(&key)
                    ),
                });
                continue;
            }
            explicit.push((key, value));
        }
        for (key, value) in merged {
            let present = explicit.iter().any(|(k, _)| same_key(k, &key));
            if !present {
                explicit.push((key, value));
            }
        }
        explicit
    }
}

fn is_merge_key(key: &Node) -> bool {
    matches!(&key.kind, Kind::Scalar(Scalar { text, value: Value::Str }) if text == "<<")
}

fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Scalar(x), Kind::Scalar(y)) => x.text == y.text,
        _ => false,
    }
}

fn key_text(key: &Node) -> String {
    match &key.kind {
        Kind::Scalar(s) => format!("{:?}", s.text),
        _ => key.describe().to_owned(),
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        Kind::Scalar(_) => 1,
        Kind::Seq(items) => 1usize.saturating_add(items.iter().map(count_nodes).sum()),
        Kind::Map(entries) => 1usize.saturating_add(
            entries.iter().map(|(k, v)| count_nodes(k).saturating_add(count_nodes(v))).sum(),
        ),
    }
}

fn tag_name(tag: &Tag) -> String {
    format!("{}{}", tag.original_handle(), tag.suffix())
}

fn check_collection_tag(tag: Option<&Tag>, expected: &str) -> Result<(), String> {
    match tag {
        None => Ok(()),
        Some(tag) if tag.core_suffix() == Some(expected) => Ok(()),
        Some(tag) if tag.handle() == "!" && tag.suffix().is_empty() => Ok(()),
        Some(tag) => Err(format!("unsupported YAML tag {} on a {}", tag_name(tag), expected)),
    }
}

/// Resolves a scalar to its type, as yaml.v3 does when decoding into `interface{}`.
fn resolve(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        if tag.handle() == "!" && tag.suffix().is_empty() {
            return Ok(Value::Str);
        }
        let plain = resolve_plain(text);
        return match tag.core_suffix() {
            Some("str") => Ok(Value::Str),
            Some("null") => Ok(Value::Null),
            Some("bool") => match plain {
                Value::Bool(_) => Ok(plain),
                _ => Err(format!("cannot read {text:?} as !!bool")),
            },
            Some("int") => match plain {
                Value::Int(_) => Ok(plain),
                _ => Err(format!("cannot read {text:?} as !!int")),
            },
            Some("float") => match plain {
                Value::Int(_) | Value::Float => Ok(Value::Float),
                _ => Err(format!("cannot read {text:?} as !!float")),
            },
            _ => Err(format!("unsupported YAML tag {} on a scalar", tag_name(tag))),
        };
    }
    match style {
        ScalarStyle::Plain => Ok(resolve_plain(text)),
        _ => Ok(Value::Str),
    }
}

fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Value::Float,
        _ => {}
    }
    let first = text.as_bytes().first().copied().unwrap_or(b' ');
    if !(first.is_ascii_digit() || first == b'+' || first == b'-' || first == b'.') {
        return Value::Str;
    }
    if is_timestamp(text) {
        return Value::Timestamp;
    }
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(n) = parse_go_int(&plain) {
        return Value::Int(n);
    }
    if is_yaml_float(&plain) {
        return Value::Float;
    }
    Value::Str
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint`: sign, then `0x`, `0o`,
/// `0b` or a leading `0` (octal) prefix, within the int64 or uint64 range.
fn parse_go_int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    let in_range = value >= i128::from(i64::MIN) && value <= i128::from(u64::MAX);
    in_range.then_some(value)
}

/// yaml.v3's float pattern: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_yaml_float(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut idx = 0;
    if matches!(bytes.first(), Some(b'-' | b'+')) {
        idx += 1;
    }
    let digits = |idx: &mut usize| {
        let start = *idx;
        while *idx < bytes.len() && bytes[*idx].is_ascii_digit() {
            *idx += 1;
        }
        *idx - start
    };
    if bytes.get(idx) == Some(&b'.') {
        idx += 1;
        if digits(&mut idx) == 0 {
            return false;
        }
    } else {
        if digits(&mut idx) == 0 {
            return false;
        }
        if bytes.get(idx) == Some(&b'.') {
            idx += 1;
            digits(&mut idx);
        }
    }
    if matches!(bytes.get(idx), Some(b'e' | b'E')) {
        idx += 1;
        if matches!(bytes.get(idx), Some(b'-' | b'+')) {
            idx += 1;
        }
        if digits(&mut idx) == 0 {
            return false;
        }
    }
    idx == bytes.len()
}

/// A date `YYYY-M-D`, optionally followed by `T`, `t` or a space and a time `H:M:S...`,
/// as yaml.v3 recognizes timestamps.
fn is_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    let date_len =
        bytes.iter().position(|&b| b == b'T' || b == b't' || b == b' ').unwrap_or(bytes.len());
    let date = &text[..date_len];
    let parts: Vec<&str> = date.split('-').collect();
    let date_ok = parts.len() == 3
        && parts[0].len() == 4
        && (1..=2).contains(&parts[1].len())
        && (1..=2).contains(&parts[2].len())
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if !date_ok {
        return false;
    }
    if date_len == bytes.len() {
        return true;
    }
    let time = &text[date_len + 1..];
    let fields: Vec<&str> = time.splitn(3, ':').collect();
    fields.len() == 3
        && fields[..2]
            .iter()
            .all(|f| (1..=2).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()))
        && fields[2].len() >= 2
        && fields[2].as_bytes()[..2].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn render(node: &Node, out: &mut String) {
        match &node.kind {
            Kind::Scalar(s) => {
                out.push_str(&format!("{:?}@{}:{}", s.value, node.line, node.column))
            }
            Kind::Seq(items) => {
                out.push('[');
                for item in items {
                    render(item, out);
                    out.push(' ');
                }
                out.push_str(&format!("]@{}:{}", node.line, node.column));
            }
            Kind::Map(entries) => {
                out.push('{');
                for (k, v) in entries {
                    out.push_str(&format!("{}=", key_text(k)));
                    render(v, out);
                    out.push(' ');
                }
                out.push_str(&format!("}}@{}:{}", node.line, node.column));
            }
        }
    }

    fn check(input: &str, expect: Expect) {
        let (node, errors) = parse(input);
        let mut out = String::new();
        if let Some(node) = node {
            render(&node, &mut out);
        }
        for e in errors {
            out.push_str(&format!("\nerror {}:{}: {}", e.line, e.column, e.message));
        }
        expect.assert_eq(&out);
    }

    #[test]
    fn scalars_resolve_like_yaml_v3() {
        check(
            "a: 0644\nb: \"0644\"\nc: yes\nd: true\ne: ~\nf:\ng: 1_000\nh: 0x1F\ni: 1.5\nj: 09\nk: 2024-01-02\nl: -3\nm: !!str 12\nn: 18446744073709551615\no: 18446744073709551616\n",
            expect![[
                r#"{"a"=Int(420)@1:4 "b"=Str@2:4 "c"=Str@3:4 "d"=Bool(true)@4:4 "e"=Null@5:4 "f"=Null@6:2 "g"=Int(1000)@7:4 "h"=Int(31)@8:4 "i"=Float@9:4 "j"=Float@10:4 "k"=Timestamp@11:4 "l"=Int(-3)@12:4 "m"=Str@13:10 "n"=Int(18446744073709551615)@14:4 "o"=Float@15:4 }@1:1"#
            ]],
        );
    }

    #[test]
    fn positions_of_nested_nodes() {
        check(
            "onboot:\n  - name: x\n    caps: [a, b]\n",
            expect![[
                r#"{"onboot"=[{"name"=Str@2:11 "caps"=[Str@3:12 Str@3:15 ]@3:11 }@2:5 ]@2:3 }@1:1"#
            ]],
        );
    }

    #[test]
    fn duplicate_keys_are_reported_and_dropped() {
        check(
            "a: 1\nb: 2\na: 3\n",
            expect![[r#"
                {"a"=Int(1)@1:4 "b"=Int(2)@2:4 }@1:1
                error 3:1: duplicate key "a" (first defined at line 1)"#]],
        );
    }

    #[test]
    fn aliases_and_merge_keys() {
        check(
            "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nlist: [*b]\n",
            expect![[
                r#"{"base"={"x"=Int(1)@1:14 "y"=Int(2)@1:20 }@1:10 "use"={"y"=Int(3)@4:6 "x"=Int(1)@1:14 }@3:3 "list"=[{"x"=Int(1)@1:14 "y"=Int(2)@1:20 }@1:10 ]@5:7 }@1:1"#
            ]],
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for idx in 1..8 {
            let prev = idx - 1;
            text.push_str(&format!(
                "a{idx}: &a{idx} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let (node, errors) = parse(&text);
        assert!(node.is_none());
        assert!(errors[0].message.contains("document too large"), "{errors:?}");
    }

    #[test]
    fn syntax_errors_and_documents() {
        check(
            "",
            expect![[r#"
            
            error 1:1: empty configuration: expected a mapping with keys such as kernel, init, onboot, services"#]],
        );
        check(
            "a: 1\n---\nb: 2\n",
            expect![[r#"
            
            error 2:1: a configuration file holds one YAML document, found a second one"#]],
        );
        check(
            "a: [1, 2\n",
            expect![[r#"

                error 1:4: invalid YAML: unclosed bracket '['"#]],
        );
        check(
            "a: !foo x\n",
            expect![[r#"

                error 1:9: unsupported YAML tag !foo on a scalar"#]],
        );
    }

    #[test]
    fn go_integers() {
        assert_eq!(parse_go_int("0"), Some(0));
        assert_eq!(parse_go_int("0644"), Some(0o644));
        assert_eq!(parse_go_int("0o17"), Some(0o17));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("-0x10"), Some(-16));
        assert_eq!(parse_go_int("+7"), Some(7));
        assert_eq!(parse_go_int("08"), None);
        assert_eq!(parse_go_int("0x"), None);
        assert_eq!(parse_go_int("-9223372036854775809"), None);
    }
}
