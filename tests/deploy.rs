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

fn find<'a>(docs: &'a [Yaml], kind: &str, name: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn env_of(deployment: &Yaml, name: &str) -> Option<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_vec()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

/// kubernetes-validate has no schema for KEDA's kinds: what they must say is checked here.
#[test]
fn workers_scale_on_the_jobs_queue_counting_unacked_jobs_and_the_api_on_cpu() {
    let core = load("deploy/kubernetes/onramp.yaml");
    let scaling = load("deploy/kubernetes/scaling.yaml");
    let worker = find(&core, "Deployment", "onramp-worker");
    let scaled = find(&scaling, "ScaledObject", "onramp-worker");
    assert_eq!(scaled["apiVersion"].as_str(), Some("keda.sh/v1alpha1"));
    assert_eq!(
        scaled["spec"]["scaleTargetRef"]["name"].as_str(),
        Some("onramp-worker")
    );
    let trigger = &scaled["spec"]["triggers"][0];
    assert_eq!(trigger["type"].as_str(), Some("rabbitmq"));
    let meta = &trigger["metadata"];
    // The management API's count includes unacknowledged messages: jobs being worked
    // on keep their workers.
    assert_eq!(meta["protocol"].as_str(), Some("http"));
    assert_eq!(meta["mode"].as_str(), Some("QueueLength"));
    assert!(
        meta["excludeUnacknowledged"].is_badvalue()
            || meta["excludeUnacknowledged"].as_str() == Some("false")
    );
    assert_eq!(
        meta["queueName"].as_str(),
        Some(Settings::default().jobs_queue().as_str())
    );
    // One worker per its concurrency's worth of jobs.
    assert_eq!(
        meta["value"].as_str().map(str::to_string),
        env_of(worker, "ONRAMP_WORKER_CONCURRENCY")
    );
    let auth = trigger["authenticationRef"]["name"].as_str().unwrap();
    let auth = find(&scaling, "TriggerAuthentication", auth);
    let target = &auth["spec"]["secretTargetRef"][0];
    assert_eq!(target["parameter"].as_str(), Some("host"));
    assert!(target["name"].as_str().is_some() && target["key"].as_str().is_some());
    let (min, max) = (
        scaled["spec"]["minReplicaCount"].as_i64().unwrap(),
        scaled["spec"]["maxReplicaCount"].as_i64().unwrap(),
    );
    assert!(1 <= min && min < max, "{min}..{max}");
    assert!(scaled["spec"]["cooldownPeriod"].as_i64().unwrap() >= 60);

    let hpa = find(&scaling, "HorizontalPodAutoscaler", "onramp-api");
    assert_eq!(hpa["apiVersion"].as_str(), Some("autoscaling/v2"));
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"].as_str(),
        Some("onramp-api")
    );
    assert!(hpa["spec"]["minReplicas"].as_i64().unwrap() >= 2);
    assert_eq!(
        hpa["spec"]["metrics"][0]["resource"]["name"].as_str(),
        Some("cpu")
    );
    // The API's pods request CPU: an HPA on utilisation needs it.
    let api = find(&core, "Deployment", "onramp-api");
    let requests = &api["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"];
    assert!(requests["cpu"].as_str().is_some());
}

#[test]
fn disruption_budgets_probes_and_grace_cover_both_deployments() {
    let core = load("deploy/kubernetes/onramp.yaml");
    let scaling = load("deploy/kubernetes/scaling.yaml");
    for name in ["onramp-api", "onramp-worker"] {
        let d = find(&core, "Deployment", name);
        let labels = &d["spec"]["template"]["metadata"]["labels"];
        let pdb = find(&scaling, "PodDisruptionBudget", name);
        assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels, "{name}");
        let spec = &pdb["spec"];
        assert!(!spec["minAvailable"].is_badvalue() || !spec["maxUnavailable"].is_badvalue());
        let container = &d["spec"]["template"]["spec"]["containers"][0];
        for probe in ["readinessProbe", "livenessProbe"] {
            assert!(
                !container[probe]["httpGet"]["path"].is_badvalue(),
                "{name} has no {probe}"
            );
        }
        assert!(!container["resources"]["requests"]["memory"].is_badvalue());
        assert!(!container["resources"]["limits"]["memory"].is_badvalue());
    }
    // A worker told to stop drains its jobs before Kubernetes kills it.
    let worker = find(&core, "Deployment", "onramp-worker");
    let grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap();
    let drain: i64 = env_of(worker, "ONRAMP_DRAIN_TIMEOUT_MS")
        .unwrap()
        .parse()
        .unwrap();
    assert!(grace * 1000 > drain, "grace {grace} s, drain {drain} ms");
}

#[test]
fn network_policies_let_workers_reach_public_addresses_and_the_backends_only() {
    let docs = load("deploy/kubernetes/network-policy.yaml");
    let worker = find(&docs, "NetworkPolicy", "onramp-worker");
    assert_eq!(
        worker["spec"]["podSelector"]["matchLabels"]["component"].as_str(),
        Some("worker")
    );
    let rules = worker["spec"]["egress"].as_vec().unwrap();
    let mut public = false;
    let mut backend_ports = Vec::new();
    for rule in rules {
        for to in rule["to"].as_vec().unwrap() {
            if let Some(cidr) = to["ipBlock"]["cidr"].as_str() {
                let except: Vec<&str> = to["ipBlock"]["except"]
                    .as_vec()
                    .unwrap()
                    .iter()
                    .filter_map(Yaml::as_str)
                    .collect();
                if cidr == "0.0.0.0/0" {
                    for private in [
                        "10.0.0.0/8",
                        "172.16.0.0/12",
                        "192.168.0.0/16",
                        "169.254.0.0/16",
                        "127.0.0.0/8",
                        "100.64.0.0/10",
                    ] {
                        assert!(except.contains(&private), "{private} is not excepted");
                    }
                    public = true;
                }
                if cidr == "::/0" {
                    for private in ["fc00::/7", "fe80::/10", "::1/128", "::ffff:0:0/96"] {
                        assert!(except.contains(&private), "{private} is not excepted");
                    }
                }
            }
            if to["podSelector"]["matchLabels"]["onramp.io/backing"].as_str() == Some("true") {
                backend_ports.extend(
                    rule["ports"]
                        .as_vec()
                        .unwrap()
                        .iter()
                        .filter_map(|p| p["port"].as_i64()),
                );
            }
        }
    }
    assert!(public, "workers reach public addresses");
    backend_ports.sort();
    assert_eq!(backend_ports, [5432, 5672, 6379]);
    // The API reaches no address a rule does not name: no ipBlock at all.
    let api = find(&docs, "NetworkPolicy", "onramp-api");
    for rule in api["spec"]["egress"].as_vec().unwrap() {
        for to in rule["to"].as_vec().unwrap() {
            assert!(
                to["ipBlock"].is_badvalue(),
                "the API has an ipBlock egress rule"
            );
        }
    }
}
