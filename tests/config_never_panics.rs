//! The configuration parser never panics: arbitrary text, arbitrary YAML-ish token soup and
//! byte-level mutations of every valid corpus file all end in `Ok` or `Err`.
//! Any configuration that loads must also round-trip through its normalized form.

use std::fs;
use std::path::Path;

use kit::config::{SourceFile, load, parse_label};
use proptest::prelude::*;

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config/valid");
    let mut texts = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml") {
            texts.push(fs::read_to_string(path).unwrap());
        }
    }
    texts.sort();
    texts
}

/// Loads `text`; when it loads, its normalized form must load to the same normalized form.
fn check(text: &str) {
    let file = SourceFile { name: "fuzz.yml".into(), text: text.into() };
    if let Ok(config) = load(&[file]) {
        let yaml = config.to_yaml();
        let again = load(&[SourceFile { name: "again.yml".into(), text: yaml.clone() }])
            .unwrap_or_else(|e| panic!("normalized form does not load:\n{e}\n---\n{yaml}"));
        assert_eq!(again.to_yaml(), yaml);
        let _ = config.to_json();
        let _ = config.metadata_yaml();
        let _ = config.metadata_json();
    }
    let _ = parse_label(text);
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n".to_owned()),
        Just("  ".to_owned()),
        Just("- ".to_owned()),
        Just(": ".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(", ".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("<<: ".to_owned()),
        Just("!!str ".to_owned()),
        Just("|\n".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("#".to_owned()),
        Just("---\n".to_owned()),
        Just("0644".to_owned()),
        Just("services".to_owned()),
        Just("onboot".to_owned()),
        Just("files".to_owned()),
        Just("name".to_owned()),
        Just("image".to_owned()),
        Just("alpine".to_owned()),
        Just("capabilities".to_owned()),
        Just("resources".to_owned()),
        Just("mode".to_owned()),
        Just("path".to_owned()),
        Just("contents".to_owned()),
        "[a-zA-Z0-9_./:@-]{1,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text);
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(token(), 0..80)) {
        check(&tokens.concat());
    }

    #[test]
    fn mutated_corpus_never_panics(
        file_idx in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<char>()), 1..6),
    ) {
        let texts = corpus();
        let mut chars: Vec<char> = texts[file_idx.index(texts.len())].chars().collect();
        for (position, op, c) in edits {
            if chars.is_empty() {
                chars.push(c);
                continue;
            }
            let at = position.index(chars.len());
            match op {
                0 => chars[at] = c,
                1 => chars.insert(at, c),
                2 => { chars.remove(at); }
                _ => {
                    // Duplicate a line: exercises duplicate keys and indentation.
                    let text: String = chars.iter().collect();
                    let lines: Vec<&str> = text.lines().collect();
                    let line = lines[at % lines.len().max(1)].to_owned();
                    let mut out = text.clone();
                    out.push('\n');
                    out.push_str(&line);
                    chars = out.chars().collect();
                }
            }
        }
        check(&chars.into_iter().collect::<String>());
    }

    #[test]
    fn any_string_round_trips_through_the_emitter(value in "\\PC{0,40}") {
        let text = format!("services:\n- name: s\n  image: alpine\n  hostname: {}\n", yaml_double_quoted(&value));
        let config = load(&[SourceFile { name: "s.yml".into(), text }]).unwrap();
        let again = load(&[SourceFile { name: "n.yml".into(), text: config.to_yaml() }]).unwrap();
        prop_assert_eq!(again.services[0].config.hostname.as_deref(), Some(value.as_str()));
    }
}

/// A YAML double-quoted scalar with every character escaped as `\uXXXX` or `\UXXXXXXXX`.
fn yaml_double_quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        let n = u32::from(c);
        if n <= 0xffff {
            out.push_str(&format!("\\u{n:04X}"));
        } else {
            out.push_str(&format!("\\U{n:08X}"));
        }
    }
    out.push('"');
    out
}
