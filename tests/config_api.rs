//! The public configuration API as the CLI and the later stages use it: locations, error
//! display, labels, merge results, id maps.

use expect_test::expect;
use kit::config::{FileKind, Id, MetadataFormat, SourceFile, load, parse_label};

fn one(text: &str) -> Result<kit::config::Config, kit::config::ConfigErrors> {
    load(&[SourceFile { name: "c.yml".into(), text: text.into() }])
}

#[test]
fn entries_keep_their_locations() {
    let config = one(
        "kernel:\n  image: linuxkit/kernel:6.6\ninit:\n  - a/b\nservices:\n  - name: s\n    image: alpine\nfiles:\n  - path: x\n    contents: y\nvolumes:\n  - name: v\n",
    )
    .unwrap();
    let locations: Vec<String> =
        config.images().iter().map(|(s, i, l)| format!("{} {i} {l}", s.as_str())).collect();
    assert_eq!(
        locations,
        ["kernel linuxkit/kernel:6.6 c.yml:2:3", "init a/b c.yml:4:5", "services alpine c.yml:6:5"]
    );
    assert_eq!(config.files[0].location.to_string(), "c.yml:9:5");
    assert_eq!(config.volumes[0].location.to_string(), "c.yml:12:5");
    assert_eq!(config.services[0].image.reference.to_string(), "docker.io/library/alpine");
}

#[test]
fn errors_display_one_per_line_in_file_order() {
    let errors = load(&[
        SourceFile { name: "b.yml".into(), text: "services:\n  - name: s\n".into() },
        SourceFile { name: "a.yml".into(), text: "bogus: 1\nkernel: {image: 'A'}\n".into() },
    ])
    .unwrap_err();
    expect![[r#"
        b.yml:2:5: services[0]: missing required key "image"
        a.yml:1:1: bogus: unknown key (expected one of: kernel, init, onboot, onshutdown, services, trust, files, volumes)
        a.yml:2:17: kernel.image: invalid image reference "A": repository name must be lowercase, found "A""#]]
    .assert_eq(&errors.to_string());
    assert_eq!(errors.errors[0].path, "services[0]");
    assert_eq!((errors.errors[2].line, errors.errors[2].column), (2, 17));
}

#[test]
fn labels_use_the_image_config_model() {
    let label = parse_label(
        r#"{"capabilities":["CAP_SYS_ADMIN"],"binds":["/dev:/dev"],"net":"host","readonly":true,"uid":0,"runtime":{"mkdir":["/var/lib/x"]}}"#,
    )
    .unwrap();
    expect![[r#"
        capabilities:
        - CAP_SYS_ADMIN
        binds:
        - /dev:/dev
        net: host
        readonly: true
        uid: 0
        runtime:
          mkdir:
          - /var/lib/x
    "#]]
    .assert_eq(&label.to_yaml());
    // Names in labels are resolved later against the whole configuration, not here.
    assert_eq!(parse_label("uid: someone\n").unwrap().uid, Some(Id::Name("someone".into())));
}

#[test]
fn labels_may_not_set_name_or_image_and_must_be_objects() {
    let errors =
        parse_label(r#"{"name":"x","image":"alpine","capabilities":["CAP_FOO"]}"#).unwrap_err();
    expect![[r#"
        org.mobyproject.config:1:9: name: name cannot be set in the org.mobyproject.config label
        org.mobyproject.config:1:21: image: image cannot be set in the org.mobyproject.config label
        org.mobyproject.config:1:46: capabilities[0]: unknown capability "CAP_FOO" (expected CAP_* names such as CAP_NET_ADMIN, or a single all or none)"#]]
    .assert_eq(&errors.to_string());
    let errors = parse_label("[1, 2]").unwrap_err();
    assert_eq!(
        errors.to_string(),
        "org.mobyproject.config:1:1: expected a mapping (a JSON or YAML object), found a list"
    );
}

#[test]
fn id_map_follows_linuxkit_order() {
    let config = one(
        "onboot:\n- {name: a, image: x}\n- {name: a, image: x}\nonshutdown:\n- {name: b, image: x}\nservices:\n- {name: c, image: x}\n",
    )
    .unwrap();
    let map: Vec<(String, u32)> = config.id_map().into_iter().collect();
    assert_eq!(map, [("a".to_owned(), 101), ("b".to_owned(), 102), ("c".to_owned(), 103)]);
}

#[test]
fn file_kinds_and_metadata_formats() {
    let config = one(
        "files:\n- {path: /a, metadata: json}\n- {path: b, source: s, mode: '0755'}\n- {path: c, directory: true}\n",
    )
    .unwrap();
    assert_eq!(config.files[0].kind(), Some(FileKind::Metadata(MetadataFormat::Json)));
    assert_eq!(config.files[0].image_path(), "a");
    assert_eq!(config.files[1].kind(), Some(FileKind::Source("s")));
    assert_eq!(config.files[1].mode_bits(), 0o755);
    assert_eq!(config.files[2].kind(), Some(FileKind::Directory));
    assert_eq!(config.files[2].mode_bits(), 0o700);
}

#[test]
fn json_output_matches_the_yaml_content() {
    let config = one("kernel:\n  image: linuxkit/kernel:6.6\n  ucode: ''\nservices:\n- name: s\n  image: alpine\n  readonly: false\n  uid: 0\n").unwrap();
    expect![[r#"
        {
          "kernel": {
            "image": "linuxkit/kernel:6.6",
            "ucode": ""
          },
          "services": [
            {
              "name": "s",
              "image": "alpine",
              "readonly": false,
              "uid": 0
            }
          ]
        }"#]]
    .assert_eq(&config.to_json());
}
