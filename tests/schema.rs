//! Real output of `aelm` validates against the JSON Schema in docs/.

mod common;

use common::*;
use serde_json::Value;

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo().join("docs/schema.json")).expect("docs/schema.json");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// Lines of `aelm run` on a fixture that exits after its scripted phase.
fn run_fixture(py: &Python, script: &str, extra: &[&str]) -> Vec<Value> {
    let dir = scratch("schema");
    let mut args = vec!["--threshold-ms", "20"];
    args.extend_from_slice(extra);
    let out = aelm_run(py, script, &args, &dir)
        .env("AELM_REPEAT", "1")
        .output()
        .expect("aelm run");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout holds only JSON lines"))
        .collect()
}

#[test]
fn real_output_matches_the_schema() {
    let validator = schema();
    let py = pythons()
        .into_iter()
        .find(|p| p.minor() >= 11)
        .expect("a Python 3.11+");
    let mut lines = run_fixture(&py, "lib_urlopen.py", &[]);
    // An ongoing block, and a block still running when aelm stops.
    lines.extend(run_fixture(
        &py,
        "sleep_in_coroutine.py",
        &["--ongoing-ms", "40"],
    ));
    let types: Vec<&str> = lines.iter().filter_map(|l| l["type"].as_str()).collect();
    for ty in ["start", "block", "end"] {
        assert!(types.contains(&ty), "no {ty} line in {types:?}");
    }
    assert!(lines.iter().any(|l| l["state"] == "ongoing"));
    assert!(lines.iter().any(|l| l.get("callee").is_some()));
    for line in &lines {
        let errors: Vec<String> = validator.iter_errors(line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{line}\n{}", errors.join("\n"));
    }
    // The schema can fail: a block without its culprit is rejected.
    let mut broken = lines
        .iter()
        .find(|l| l["type"] == "block")
        .cloned()
        .expect("a block");
    broken.as_object_mut().expect("object").remove("culprit");
    assert!(!validator.is_valid(&broken));
}
