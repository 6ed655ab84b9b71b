//! The deployment files are checked by parsing them (no container engine here):
//! the services exist, and every `ONRAMP_*` variable they set is a real setting.

use onramp::config::Settings;
use yaml_rust2::{Yaml, YamlLoader};

fn load(path: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap();
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"))
}

/// Checks the variables against the settings loader, which refuses unknown names and mistyped values.
fn assert_valid_settings(vars: Vec<(String, String)>, place: &str) {
    assert!(!vars.is_empty(), "{place} sets no ONRAMP_ variables");
    let vars: Vec<(String, String)> = vars
        .into_iter()
        .map(|(k, v)| {
            if v.starts_with("${") {
                (k, "x".into())
            } else {
                (k, v)
            }
        })
        .collect();
    if let Err(e) = Settings::load_from(None, &vars) {
        panic!("{place}: {e}");
    }
}

fn env_map(y: &Yaml) -> Vec<(String, String)> {
    y.as_hash()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| {
                    let k = k.as_str()?;
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| v.as_i64().map(|n| n.to_string()))?;
                    k.starts_with("ONRAMP_").then(|| (k.to_string(), v))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn docker_compose_runs_the_dependencies_the_api_and_a_worker() {
    let doc = &load("docker-compose.yml")[0];
    let services = &doc["services"];
    for name in ["postgres", "rabbitmq", "redis", "api", "worker"] {
        assert!(!services[name].is_badvalue(), "service {name} missing");
    }
    assert!(
        services["rabbitmq"]["image"]
            .as_str()
            .unwrap()
            .contains("management")
    );
    assert_eq!(services["api"]["command"][0].as_str(), Some("api"));
    assert_eq!(services["worker"]["command"][0].as_str(), Some("worker"));
    let shared = env_map(&doc["x-onramp-env"]);
    for service in ["api", "worker"] {
        let mut vars = shared.clone();
        vars.extend(env_map(&services[service]["environment"]));
        assert_valid_settings(vars, service);
    }
}

#[test]
fn kubernetes_manifests_deploy_the_api_and_the_workers_with_real_settings() {
    let docs = load("deploy/kubernetes/onramp.yaml");
    let deployments: Vec<&Yaml> = docs
        .iter()
        .filter(|d| d["kind"].as_str() == Some("Deployment"))
        .collect();
    let args: Vec<&str> = deployments
        .iter()
        .map(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["args"][0]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(args, ["api", "worker"]);
    assert!(docs.iter().any(|d| d["kind"].as_str() == Some("Service")));
    for d in deployments {
        let container = &d["spec"]["template"]["spec"]["containers"][0];
        let vars: Vec<(String, String)> = container["env"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_valid_settings(vars, d["metadata"]["name"].as_str().unwrap());
    }
}

#[test]
fn the_dockerfile_builds_the_binary_with_its_migrations() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Dockerfile"),
    )
    .unwrap();
    for needle in [
        "COPY migrations",
        "cargo build --release --locked",
        "ENTRYPOINT",
        "USER 10001",
    ] {
        assert!(text.contains(needle), "Dockerfile lacks {needle}");
    }
}

#[test]
fn shipped_deployments_are_hosted_style_refusing_private_ranges() {
    let doc = &load("docker-compose.yml")[0];
    let shared = env_map(&doc["x-onramp-env"]);
    assert!(
        shared
            .iter()
            .any(|(k, v)| k == "ONRAMP_EGRESS_ALLOW_PRIVATE" && v == "false"),
        "docker-compose.yml must set ONRAMP_EGRESS_ALLOW_PRIVATE=false: {shared:?}"
    );
    let docs = load("deploy/kubernetes/onramp.yaml");
    let worker = docs
        .iter()
        .find(|d| d["metadata"]["name"].as_str() == Some("onramp-worker"))
        .expect("a worker deployment");
    let pod = &worker["spec"]["template"]["spec"];
    assert_eq!(
        pod["automountServiceAccountToken"].as_bool(),
        Some(false),
        "a worker pod must not carry a service-account token"
    );
    let env = pod["containers"][0]["env"].as_vec().unwrap();
    assert!(env.iter().any(|e| {
        e["name"].as_str() == Some("ONRAMP_EGRESS_ALLOW_PRIVATE")
            && e["value"].as_str() == Some("false")
    }));
    // The API refuses datasources that ask for less than TLS.
    let api = docs
        .iter()
        .find(|d| d["metadata"]["name"].as_str() == Some("onramp-api"))
        .expect("an api deployment");
    let env = api["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_vec()
        .unwrap();
    assert!(env.iter().any(|e| {
        e["name"].as_str() == Some("ONRAMP_MINIMUM_SSL_MODE")
            && e["value"].as_str() == Some("require")
    }));
    assert!(
        shared
            .iter()
            .any(|(k, v)| k == "ONRAMP_MINIMUM_SSL_MODE" && v == "require"),
        "docker-compose.yml must set ONRAMP_MINIMUM_SSL_MODE=require: {shared:?}"
    );
}
