//! The committed event catalog (schema/events) is what the Rust types generate: a changed
//! event without `mailplane schema --events schema/events` fails here.

use std::path::Path;

#[test]
fn the_committed_event_catalog_matches_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/events");
    let refresh = "run `cargo run -- schema --events schema/events`";
    let mut expected = Vec::new();
    for (category, event_type, schema) in domain::catalog::schemas() {
        let path = dir.join(category).join(format!("{event_type}.json"));
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing: {refresh}", path.display()));
        let generated = format!("{}\n", serde_json::to_string_pretty(&schema).unwrap());
        assert_eq!(
            committed,
            generated,
            "{} is stale: {refresh}",
            path.display()
        );
        expected.push(path);
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert_eq!(
        readme,
        domain::catalog::readme(),
        "README.md is stale: {refresh}"
    );
    for category in std::fs::read_dir(&dir).unwrap() {
        let category = category.unwrap().path();
        if category.is_dir() {
            for file in std::fs::read_dir(&category).unwrap() {
                let file = file.unwrap().path();
                assert!(
                    expected.contains(&file),
                    "{} describes no event type",
                    file.display()
                );
            }
        }
    }
}
