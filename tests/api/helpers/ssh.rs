//! The bastion of the tunnel tests: Debian's OpenSSH server, set up by
//! `scripts/test-servers.sh` on 127.0.0.1:2222 with its users and keys, and more
//! instances of it a test starts on its own port with a host key it chooses.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub const DIR: &str = "/var/lib/onramp-sshd";
pub const PORT: u16 = 2222;

/// A client key made by the test script (`id_rsa`, `id_ecdsa`, `id_ed25519`, ...).
pub fn key(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).expect("the test script made this key")
}

/// A host key's fingerprint as `ssh-keygen -lf` prints it: the oracle for ours.
pub fn fingerprint(host_key: &str) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-lf", &format!("{DIR}/{host_key}.pub")])
        .output()
        .expect("ssh-keygen runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("a fingerprint")
        .to_string()
}

/// A tunnel as onramp_tpw, who logs in with a password and may open channels only
/// to the ports its `PermitOpen` lists (5432, 5433, 3306, 18123).
pub fn with_password(port: u16) -> Value {
    json!({"host": "127.0.0.1", "port": port, "username": "onramp_tpw", "auth": "password", "password": "onramp-pw"})
}

/// A tunnel as onramp_tkey with one of its keys.
pub fn with_key(key_name: &str) -> Value {
    json!({"host": "127.0.0.1", "port": PORT, "username": "onramp_tkey", "auth": "key", "privateKey": key(key_name)})
}

/// An sshd of the test's own, on a free port, presenting `host_key`.
pub struct Sshd {
    pub port: u16,
    child: Child,
    config: String,
}

impl Sshd {
    pub async fn start(host_key: &str) -> Sshd {
        Sshd::on(free_port(), host_key).await
    }

    /// On `port`: a test restarts its bastion where the datasource expects it.
    pub async fn on(port: u16, host_key: &str) -> Sshd {
        let base = std::fs::read_to_string(format!("{DIR}/sshd_config")).expect("sshd_config");
        let text: String = base
            .lines()
            .map(|l| {
                if l.starts_with("Port ") {
                    format!("Port {port}")
                } else if l.starts_with("HostKey ") {
                    format!("HostKey {DIR}/{host_key}")
                } else if l.starts_with("PidFile ") {
                    "PidFile none".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let config = format!("/tmp/onramp-sshd-{port}.conf");
        std::fs::write(&config, text + "\n").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f", &config])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Sshd {
            port,
            child,
            config,
        }
    }

    /// Stops the server (and, sshd being what it is, its open sessions).
    pub fn stop(mut self) -> u16 {
        self.kill();
        self.port
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
