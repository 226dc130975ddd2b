//! The layering of DESIGN.md and the README's "Architecture", checked on the sources:
//! arrows point one way (api, workers → app → eventstore, domain; projections → eventstore,
//! domain), every write goes through `app`, and source files stay small.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The production sources (not tests) of a crate folder.
fn sources(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(ROOT).join(dir), &mut out);
    out.sort();
    out
}

/// The text of a source file before its `#[cfg(test)]` module.
fn non_test(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The workspace crates a crate depends on (normal dependencies only).
fn our_dependencies(krate: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(Path::new(ROOT).join(krate).join("Cargo.toml")).unwrap();
    let section = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap_or_default()
        .split("\n[")
        .next()
        .unwrap_or_default();
    [
        "domain",
        "eventstore",
        "projections",
        "app",
        "api",
        "console",
        "workers",
    ]
    .iter()
    .filter(|c| {
        section.lines().any(|l| {
            l.trim_start().starts_with(&format!("{c}.workspace"))
                || l.trim_start().starts_with(&format!("{c} ="))
        })
    })
    .map(|c| c.to_string())
    .collect()
}

#[test]
fn arrows_point_one_way() {
    let allowed: &[(&str, &[&str])] = &[
        ("domain", &[]),
        ("eventstore", &[]),
        ("projections", &["domain", "eventstore"]),
        ("app", &["domain", "eventstore"]),
        ("api", &["app", "domain", "eventstore", "projections"]),
        ("workers", &["app", "domain", "eventstore", "projections"]),
        ("console", &["app", "domain", "eventstore", "projections"]),
    ];
    for (krate, may) in allowed {
        for dep in our_dependencies(krate) {
            assert!(
                may.contains(&dep.as_str()),
                "{krate} depends on {dep}; it may use only {may:?}"
            );
        }
    }
    assert!(!our_dependencies("workers").contains(&"api".to_owned()));
    assert!(!our_dependencies("console").contains(&"api".to_owned()));
}

/// Writing events outside `app`: constructing a command context or handler, appending to
/// the store or one of its transactions, encoding events.
const WRITES: [&str; 5] = [
    "CommandContext",
    "CommandHandler",
    ".append(",
    "encode_serde(",
    "NewEvent::new(",
];

#[test]
fn every_write_goes_through_app() {
    // The event store benchmark measures raw appends on a database of its own (and, for
    // sealing's cost, on two more it makes and drops).
    let exempt = ["src/bench.rs", "src/bench_personal.rs"];
    let mut offenders = Vec::new();
    for dir in [
        "api/src",
        "console/src",
        "workers/src",
        "projections/src",
        "src",
    ] {
        for path in sources(dir) {
            let relative = path
                .strip_prefix(ROOT)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if exempt.contains(&relative.as_str()) {
                continue;
            }
            let text = non_test(&path);
            for pattern in WRITES {
                // A file append (`OpenOptions::append(true)`) is not an event.
                let hits = text
                    .match_indices(pattern)
                    .filter(|(i, _)| !text[*i..].starts_with(".append(true)"))
                    .count();
                if hits > 0 {
                    offenders.push(format!("{relative}: {pattern}"));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "writes outside app: {offenders:#?}");
    // And app does write: the check looks for the right things.
    let app: String = sources("app/src").iter().map(|p| non_test(p)).collect();
    assert!(app.contains("CommandContext") && app.contains(".append("));
}

#[test]
fn no_source_file_is_over_400_lines_outside_its_tests() {
    let mut long = Vec::new();
    for dir in [
        "domain/src",
        "eventstore/src",
        "projections/src",
        "app/src",
        "api/src",
        "console/src",
        "workers/src",
        "src",
    ] {
        // A `tests.rs` module holds only tests.
        for path in sources(dir)
            .into_iter()
            .filter(|p| !p.ends_with("tests.rs"))
        {
            let lines = non_test(&path).lines().count();
            if lines > 400 {
                long.push(format!(
                    "{}: {lines}",
                    path.strip_prefix(ROOT).unwrap().display()
                ));
            }
        }
    }
    assert!(long.is_empty(), "files over 400 non-test lines: {long:#?}");
}
