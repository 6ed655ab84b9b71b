//! onramp as a subprocess, configured like an in-process test app.

use std::process::Stdio;

use onramp::config::Settings;
use serde_json::Value;

/// The settings as `ONRAMP_*` variables, for a subprocess.
pub fn env_for(settings: &Settings) -> Vec<(String, String)> {
    let Value::Object(map) = serde_json::to_value(settings).unwrap() else {
        unreachable!()
    };
    // Secrets serialise as `[redacted]`: they are handed over exposed, one by one.
    let secrets = [
        ("database_url", Some(&settings.database_url)),
        ("amqp_url", Some(&settings.amqp_url)),
        ("redis_url", Some(&settings.redis_url)),
        ("secret_key", settings.secret_key.as_ref()),
    ];
    let mut vars: Vec<(String, String)> = map
        .into_iter()
        .filter(|(k, v)| !v.is_null() && !secrets.iter().any(|(name, _)| name == k))
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (format!("ONRAMP_{}", k.to_uppercase()), v)
        })
        .collect();
    for (name, secret) in secrets {
        if let Some(secret) = secret {
            vars.push((
                format!("ONRAMP_{}", name.to_uppercase()),
                secret.expose().to_string(),
            ));
        }
    }
    vars
}

pub fn onramp(settings: &Settings, command: &str, log: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_onramp"))
        .arg(command)
        .envs(env_for(settings))
        .env("ONRAMP_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Sends `sig` (15: SIGTERM) to a child process.
pub fn signal(child: &tokio::process::Child, sig: i32) -> i32 {
    let pid = child.id().expect("child is running") as i32;
    // SAFETY: kill(2) with a pid of our own child and a plain signal number.
    unsafe { kill(pid, sig) }
}
