//! The workspace's dependency rules (ARCHITECTURE.md, "Dependency rules"),
//! checked from `cargo metadata --no-deps`:
//!
//! - no stage crate (ingest, sealer, archiver, verify, witness) depends on another,
//!   directly or through a workspace crate, with any kind of dependency;
//! - `verify` and `archive` do not pull `rdkafka` into their normal
//!   dependencies, through any workspace crate or any feature they turn on.
//!
//! Only the workspace's own manifests are read: external crates are leaves.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

const STAGES: [&str; 5] = ["ingest", "sealer", "archiver", "verify", "witness"];
const KAFKA_FREE: [&str; 2] = ["verify", "archive"];

/// One dependency of a workspace package, as its manifest declares it.
#[derive(Debug)]
struct Dep {
    name: String,
    /// `None` for a normal dependency, else "dev" or "build".
    kind: Option<String>,
    optional: bool,
    features: Vec<String>,
    default_features: bool,
}

#[derive(Debug)]
struct Package {
    deps: Vec<Dep>,
    features: BTreeMap<String, Vec<String>>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Workspace packages by name, from `cargo metadata` JSON.
fn packages(metadata: &Value) -> BTreeMap<String, Package> {
    let mut out = BTreeMap::new();
    for p in metadata["packages"].as_array().into_iter().flatten() {
        let deps = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| Dep {
                // A renamed dependency is still known by its package name.
                name: d["name"].as_str().unwrap_or_default().to_owned(),
                kind: d["kind"].as_str().map(str::to_owned),
                optional: d["optional"].as_bool().unwrap_or(false),
                features: strings(&d["features"]),
                default_features: d["uses_default_features"].as_bool().unwrap_or(true),
            })
            .collect();
        let features = p["features"]
            .as_object()
            .map(|f| f.iter().map(|(k, v)| (k.clone(), strings(v))).collect())
            .unwrap_or_default();
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        out.insert(name, Package { deps, features });
    }
    out
}

/// The optional dependencies of `package` that `features` turn on
/// (following features that name other features).
fn enabled_optional(package: &Package, features: &[String]) -> BTreeSet<String> {
    let mut todo: Vec<String> = features.to_vec();
    let (mut seen, mut deps) = (BTreeSet::new(), BTreeSet::new());
    while let Some(f) = todo.pop() {
        if !seen.insert(f.clone()) {
            continue;
        }
        if let Some(dep) = f.strip_prefix("dep:") {
            deps.insert(dep.to_owned());
            continue;
        }
        // `x/feature` turns on optional `x`; `x?/feature` does not.
        if let Some((dep, _)) = f.split_once('/') {
            if !dep.ends_with('?') {
                deps.insert(dep.to_owned());
            }
            continue;
        }
        match package.features.get(&f) {
            Some(more) => todo.extend(more.iter().cloned()),
            // A feature that is not in the table is an implicit one named
            // after an optional dependency.
            None => {
                deps.insert(f);
            }
        }
    }
    deps
}

/// Every package `root` reaches through workspace packages, following the
/// dependency kinds `follow` accepts, each with the features it is asked for.
fn reach(
    ws: &BTreeMap<String, Package>,
    root: &str,
    follow: impl Fn(&Dep) -> bool,
) -> BTreeSet<String> {
    let mut reached = BTreeSet::new();
    let mut todo = vec![(root.to_owned(), Vec::<String>::new(), true)];
    let mut visited = BTreeSet::new();
    while let Some((name, features, defaults)) = todo.pop() {
        let Some(package) = ws.get(&name) else {
            continue;
        };
        if !visited.insert((name.clone(), features.clone(), defaults)) {
            continue;
        }
        let mut asked = features;
        if defaults {
            asked.push("default".into());
        }
        let on = enabled_optional(package, &asked);
        for dep in package.deps.iter().filter(|d| follow(d)) {
            if dep.optional && !on.contains(&dep.name) {
                continue;
            }
            reached.insert(dep.name.clone());
            todo.push((dep.name.clone(), dep.features.clone(), dep.default_features));
        }
    }
    reached
}

/// What breaks the rules, one line each; empty when nothing does.
fn violations(ws: &BTreeMap<String, Package>) -> Vec<String> {
    let mut out = Vec::new();
    for stage in STAGES {
        // Dev dependencies count only at the first step: a crate's tests
        // are not part of what depends on it.
        let direct_dev: BTreeSet<String> = ws
            .get(stage)
            .map(|p| p.deps.iter().map(|d| d.name.clone()).collect())
            .unwrap_or_default();
        let all = reach(ws, stage, |d| d.kind.as_deref() != Some("dev"));
        for other in STAGES.iter().filter(|&&o| o != stage) {
            if all.contains(*other) || direct_dev.contains(*other) {
                out.push(format!(
                    "stage crate {stage} depends on stage crate {other}"
                ));
            }
        }
    }
    for krate in KAFKA_FREE {
        if reach(ws, krate, |d| d.kind.is_none()).contains("rdkafka") {
            out.push(format!(
                "{krate} pulls rdkafka into its normal dependencies"
            ));
        }
    }
    out
}

fn workspace_metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .args(["--manifest-path", manifest])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn stages_meet_only_through_kafka_and_s3_and_verify_has_no_kafka() {
    let ws = packages(&workspace_metadata());
    for name in STAGES.iter().chain(&KAFKA_FREE) {
        assert!(ws.contains_key(*name), "no workspace package {name}");
    }
    let broken = violations(&ws);
    assert!(
        broken.is_empty(),
        "dependency rules broken:\n{}",
        broken.join("\n")
    );
}

mod rule_tests {
    use serde_json::json;

    use super::{packages, violations};

    fn dep(name: &str, kind: Option<&str>, optional: bool, features: &[&str]) -> serde_json::Value {
        json!({"name": name, "kind": kind, "optional": optional,
               "features": features, "uses_default_features": true})
    }

    fn ws(extra: Vec<(&str, serde_json::Value)>) -> serde_json::Value {
        let mut packages = vec![
            json!({"name": "config", "features": {"rdkafka": ["dep:rdkafka"]},
                   "dependencies": [dep("rdkafka", None, true, &[])]}),
            json!({"name": "archive", "features": {}, "dependencies": []}),
            json!({"name": "ingest", "features": {}, "dependencies": []}),
            json!({"name": "sealer", "features": {}, "dependencies": []}),
            json!({"name": "archiver", "features": {},
                   "dependencies": [dep("config", None, false, &["rdkafka"])]}),
        ];
        let mut verify = vec![
            dep("config", None, false, &[]),
            dep("archive", None, false, &[]),
        ];
        for (who, d) in extra {
            if who == "verify" {
                verify.push(d);
            } else if let Some(deps) = packages
                .iter_mut()
                .find(|p| p["name"] == who)
                .and_then(|p| p["dependencies"].as_array_mut())
            {
                deps.push(d);
            }
        }
        packages.push(json!({"name": "verify", "features": {}, "dependencies": verify}));
        json!({ "packages": packages })
    }

    #[test]
    fn the_rules_hold_for_a_clean_graph_and_an_optional_dep_left_off() {
        assert_eq!(violations(&packages(&ws(vec![]))), Vec::<String>::new());
    }

    #[test]
    fn a_stage_on_a_stage_is_found_directly_as_a_dev_dependency_and_through_a_crate() {
        let direct = ws(vec![("verify", dep("archiver", None, false, &[]))]);
        let broken = violations(&packages(&direct));
        assert!(broken.contains(&"stage crate verify depends on stage crate archiver".into()));
        assert!(broken.contains(&"verify pulls rdkafka into its normal dependencies".into()));
        let dev = ws(vec![("sealer", dep("ingest", Some("dev"), false, &[]))]);
        assert_eq!(
            violations(&packages(&dev)),
            ["stage crate sealer depends on stage crate ingest"]
        );
        let through = ws(vec![("archive", dep("sealer", None, false, &[]))]);
        assert_eq!(
            violations(&packages(&through)),
            ["stage crate verify depends on stage crate sealer"]
        );
    }

    #[test]
    fn rdkafka_through_a_feature_of_a_workspace_crate_is_found() {
        let on = ws(vec![("archive", dep("config", None, false, &["rdkafka"]))]);
        assert_eq!(
            violations(&packages(&on)),
            [
                "verify pulls rdkafka into its normal dependencies",
                "archive pulls rdkafka into its normal dependencies"
            ]
        );
        let dev_only = ws(vec![("archive", dep("rdkafka", Some("dev"), false, &[]))]);
        assert_eq!(violations(&packages(&dev_only)), Vec::<String>::new());
    }
}
