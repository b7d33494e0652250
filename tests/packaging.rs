//! Shipping: the Kubernetes manifests in deploy/ are valid YAML with the
//! fields the API requires, and the maturin wheel installs `aelm` into a
//! fresh virtualenv where it works.

mod common;

use std::process::Command;

use common::*;
use yaml_rust2::{Yaml, YamlLoader};

fn get<'a>(y: &'a Yaml, path: &[&str]) -> &'a Yaml {
    path.iter().fold(y, |y, k| &y[*k])
}

#[test]
fn manifests_have_what_the_api_requires() {
    for name in ["daemonset.yaml", "sidecar.yaml"] {
        let text = std::fs::read_to_string(repo().join("deploy").join(name)).expect(name);
        let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(docs.len(), 1, "{name}");
        let d = &docs[0];
        for key in ["apiVersion", "kind"] {
            assert!(d[key].as_str().is_some(), "{name}: {key}");
        }
        assert!(
            get(d, &["metadata", "name"]).as_str().is_some(),
            "{name}: metadata.name"
        );
        let pod = if d["kind"].as_str() == Some("Pod") {
            d["spec"].clone()
        } else {
            get(d, &["spec", "template", "spec"]).clone()
        };
        let containers = pod["containers"]
            .as_vec()
            .unwrap_or_else(|| panic!("{name}: containers"));
        let aelm = containers
            .iter()
            .find(|c| c["name"].as_str() == Some("aelm"))
            .unwrap_or_else(|| panic!("{name}: an aelm container"));
        assert!(aelm["image"].as_str().is_some(), "{name}: image");
        let caps = get(aelm, &["securityContext", "capabilities", "add"])
            .as_vec()
            .unwrap_or_else(|| panic!("{name}: capabilities.add"));
        let caps: Vec<&str> = caps.iter().filter_map(Yaml::as_str).collect();
        assert_eq!(
            caps,
            vec!["SYS_PTRACE"],
            "{name}: CAP_SYS_PTRACE and nothing broader"
        );
        assert_eq!(
            aelm["securityContext"]["privileged"].as_bool(),
            None,
            "{name}: not privileged"
        );
        if d["kind"].as_str() == Some("DaemonSet") {
            assert_eq!(pod["hostPID"].as_bool(), Some(true));
            assert!(
                get(d, &["spec", "selector", "matchLabels"])
                    .as_hash()
                    .is_some()
            );
            let ann = get(d, &["spec", "template", "metadata", "annotations"]);
            assert_eq!(ann["prometheus.io/scrape"].as_str(), Some("true"));
            assert!(
                get(aelm, &["resources", "limits", "cpu"])
                    .as_str()
                    .is_some()
            );
        } else {
            assert_eq!(pod["shareProcessNamespace"].as_bool(), Some(true));
        }
    }
}

#[test]
fn wheel_installs_a_working_aelm_in_a_fresh_virtualenv() {
    let ok = Command::new("python3")
        .args(["-m", "maturin", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        panic!("maturin is missing: the test command installs it (python3 -m pip install maturin)");
    }
    let dir = scratch("wheel");
    let out = Command::new("python3")
        .args(["-m", "maturin", "build", "--release", "-o"])
        .arg(dir.join("wheels"))
        .current_dir(repo())
        .output()
        .expect("maturin build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wheel = std::fs::read_dir(dir.join("wheels"))
        .expect("wheels")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("a wheel");
    let venv = dir.join("venv");
    let st = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("venv");
    assert!(st.success());
    let st = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "--no-index"])
        .arg(&wheel)
        .status()
        .expect("pip install");
    assert!(st.success());
    let aelm = venv.join("bin/aelm");
    let out = Command::new(&aelm)
        .arg("--version")
        .output()
        .expect("aelm --version");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("aelm "));
    let out = Command::new(&aelm)
        .args(["run", "--threshold-ms", "20", "--"])
        .arg(venv.join("bin/python"))
        .arg(fixture("sleep_in_coroutine.py"))
        .env("AELM_EXIT_AFTER_DONE", "1")
        .env("AELM_REPEAT", "1")
        .output()
        .expect("aelm run from the venv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"type\":\"block\""), "{stdout}");
    assert!(stdout.contains("handle_request"), "{stdout}");
}
