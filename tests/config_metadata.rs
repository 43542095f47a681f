//! `metadata: yaml|json` renders the merged configuration the way LinuxKit embeds it.
//!
//! `testdata/config/metadata/fixture.linuxkit-config` is what LinuxKit itself wrote to
//! `etc/linuxkit-config` when building `fixture.yml` (see testdata/SOURCES.md).

use std::fs;
use std::path::Path;

use expect_test::expect;
use kit::config::{SourceFile, load};

fn load_text(text: &str) -> kit::config::Config {
    load(&[SourceFile { name: "test.yml".into(), text: text.into() }]).unwrap()
}

#[test]
fn metadata_yaml_matches_linuxkit_output_for_the_oracle_fixture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config/metadata");
    let config = load_text(&fs::read_to_string(dir.join("fixture.yml")).unwrap());
    let expected = fs::read_to_string(dir.join("fixture.linuxkit-config")).unwrap();
    assert_eq!(config.metadata_yaml(), expected);
}

#[test]
fn metadata_expands_references_except_volumes() {
    let config = load_text(
        "kernel: {image: 'linuxkit/kernel:6.6', ucode: ''}\ninit: [alpine]\nservices:\n- {name: s, image: 'foo/bar:1'}\nvolumes:\n- {name: v, image: 'alpine:3'}\n",
    );
    expect![[r#"
        kernel:
          image: docker.io/linuxkit/kernel:6.6
          ucode: ""
        init:
        - docker.io/library/alpine
        onboot: []
        onshutdown: []
        services:
        - name: s
          image: docker.io/foo/bar:1
        files: []
        volumes:
        - name: v
          image: alpine:3
    "#]]
    .assert_eq(&config.metadata_yaml());
}

#[test]
fn metadata_json_is_go_indented_with_html_escapes() {
    let config = load_text(
        "onboot:\n- name: a\n  image: alpine\n  command: [sh, -c, 'x > y']\n  runtime: {mkdir: [/a]}\nfiles:\n- {path: etc/x, contents: 'a&b'}\n",
    );
    expect![[r#"
        {
            "kernel": {
                "image": ""
            },
            "init": null,
            "onboot": [
                {
                    "name": "a",
                    "image": "docker.io/library/alpine",
                    "command": [
                        "sh",
                        "-c",
                        "x \u003e y"
                    ],
                    "runtime": {
                        "mkdir": [
                            "/a"
                        ],
                        "bindNS": {}
                    }
                }
            ],
            "onshutdown": null,
            "services": null,
            "files": [
                {
                    "path": "etc/x",
                    "directory": false,
                    "contents": "a\u0026b",
                    "optional": false
                }
            ],
            "volumes": null
        }"#]]
    .assert_eq(&config.metadata_json());
}
