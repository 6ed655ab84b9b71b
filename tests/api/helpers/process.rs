//! onramp as a subprocess, configured like an in-process test app.

use std::process::Stdio;

use onramp::config::Settings;
use serde_json::Value;

/// The settings as `ONRAMP_*` variables, for a subprocess.
pub fn env_for(settings: &Settings) -> Vec<(String, String)> {
    let Value::Object(map) = serde_json::to_value(settings).unwrap() else {
        unreachable!()
    };
    map.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (format!("ONRAMP_{}", k.to_uppercase()), v)
        })
        .collect()
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
