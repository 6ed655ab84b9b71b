//! What a `mongodb://` or `mongodb+srv://` connection string may ask of a worker.
//! The driver would honour every option it knows, and some make it read the
//! worker's files (`tlsCAFile`, `tlsCertificateKeyFile`), send the worker's own
//! workload-identity token (`authMechanism=MONGODB-OIDC` with
//! `authMechanismProperties=ENVIRONMENT:k8s`), or connect to hosts the server names.
//! So the string is only read here, against an allow-list, and onramp builds the
//! driver's options itself from what it read.

use mongodb::options::{AuthMechanism, ConnectionString, HostInfo, ServerAddress};

/// Options that change nothing onramp relies on, accepted as they are.
const ALLOWED: &[&str] = &[
    "appname",
    "authsource",
    "authmechanism",
    "replicaset",
    "tls",
    "ssl",
    "connecttimeoutms",
    "serverselectiontimeoutms",
    "heartbeatfrequencyms",
    "maxidletimems",
    "waitqueuetimeoutms",
    "localthresholdms",
    "readpreference",
    "readpreferencetags",
    "maxstalenessseconds",
    "readconcernlevel",
    "retryreads",
    "retrywrites",
    "w",
    "wtimeoutms",
    "journal",
    "directconnection",
    "maxpoolsize",
    "minpoolsize",
    "maxconnecting",
    "srvmaxhosts",
    "srvservicename",
    "uuidrepresentation",
];

/// Options refused, with the reason a user reads.
const REFUSED: &[(&str, &str)] = &[
    (
        "authmechanismproperties",
        "mechanism properties make the driver fetch credentials from the worker's environment",
    ),
    (
        "tlscafile",
        "it names a file on onramp's workers; give the tls field instead",
    ),
    (
        "tlscertificatekeyfile",
        "it names a file on onramp's workers",
    ),
    (
        "tlscertificatekeyfilepassword",
        "client certificates from files on onramp's workers are not used",
    ),
    (
        "tlsinsecure",
        "onramp always verifies the server's certificate",
    ),
    (
        "tlsallowinvalidcertificates",
        "onramp always verifies the server's certificate",
    ),
    (
        "tlsallowinvalidhostnames",
        "onramp always verifies the server's certificate",
    ),
    (
        "proxyhost",
        "onramp connects directly, never through a proxy",
    ),
    (
        "proxyport",
        "onramp connects directly, never through a proxy",
    ),
    (
        "proxyusername",
        "onramp connects directly, never through a proxy",
    ),
    (
        "proxypassword",
        "onramp connects directly, never through a proxy",
    ),
    (
        "loadbalanced",
        "onramp connects to one server of the deployment directly",
    ),
];

/// Where a connection string points: seed hosts, or an SRV record to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeds {
    Hosts(Vec<(String, u16)>),
    Srv(String),
}

/// What onramp takes from a connection string.
#[derive(Debug, Clone)]
pub struct Target {
    pub seeds: Seeds,
    pub username: Option<String>,
    pub password: Option<String>,
    pub auth_source: Option<String>,
    /// SCRAM-SHA-1 or SCRAM-SHA-256 when the string names one.
    pub mechanism: Option<AuthMechanism>,
    /// TLS asked for (`tls=true`); `mongodb+srv` implies it unless `tls=false`.
    pub tls: Option<bool>,
}

/// The query part's option names, lower-cased, as written (before the driver reads them).
fn option_names(uri: &str) -> Vec<(String, String)> {
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    let Some((_, query)) = rest.split_once('?') else {
        return Vec::new();
    };
    query
        .split(['&', ';'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (decode(k).to_ascii_lowercase(), decode(v))
        })
        .collect()
}

/// Reads a connection string: `Err` says what is refused, naming the option.
pub fn read(uri: &str) -> Result<Target, String> {
    if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
        return Err("must start with mongodb:// or mongodb+srv://".into());
    }
    let options = option_names(uri);
    // The options that reach the worker's own files and credentials are named first.
    for (name, _) in &options {
        if let Some((_, why)) = REFUSED.iter().find(|(n, _)| n == name) {
            return Err(format!("the option {name} is not accepted: {why}"));
        }
    }
    for (name, value) in options {
        if !ALLOWED.contains(&name.as_str()) {
            return Err(format!(
                "the option {name} is not accepted; onramp takes: {}",
                ALLOWED.join(", ")
            ));
        }
        if name == "authmechanism"
            && !matches!(
                value.to_ascii_uppercase().as_str(),
                "SCRAM-SHA-1" | "SCRAM-SHA-256"
            )
        {
            return Err(format!(
                "the option authMechanism={value} is not accepted: onramp logs in with SCRAM-SHA-1 or SCRAM-SHA-256, or without authentication"
            ));
        }
    }
    // The driver's own parser for the rest of the syntax; it looks nothing up.
    let parsed = ConnectionString::parse(uri).map_err(|_| "is not a valid connection string")?;
    let seeds = match parsed.host_info {
        HostInfo::DnsRecord(name) => {
            crate::egress::host::check(&name).map_err(|why| format!("its host {why}"))?;
            Seeds::Srv(name)
        }
        HostInfo::HostIdentifiers(hosts) => {
            let mut seeds = Vec::new();
            for h in hosts {
                match h {
                    ServerAddress::Tcp { host, port } => {
                        crate::egress::host::check(&host)
                            .map_err(|why| format!("its host {why}"))?;
                        seeds.push((host, port.unwrap_or(27017)));
                    }
                    _ => return Err("a Unix socket path is not a host onramp connects to".into()),
                }
            }
            if seeds.is_empty() {
                return Err("names no host".into());
            }
            Seeds::Hosts(seeds)
        }
        _ => return Err("names no host".into()),
    };
    let credential = parsed.credential.unwrap_or_default();
    let mechanism = match credential.mechanism {
        None => None,
        Some(m @ (AuthMechanism::ScramSha1 | AuthMechanism::ScramSha256)) => Some(m),
        Some(other) => {
            return Err(format!(
                "authMechanism {} is not accepted: onramp logs in with SCRAM-SHA-1 or SCRAM-SHA-256",
                other.as_str()
            ));
        }
    };
    let tls = parsed
        .tls
        .map(|t| matches!(t, mongodb::options::Tls::Enabled(_)));
    Ok(Target {
        seeds,
        username: credential.username,
        password: credential.password,
        auth_source: credential.source,
        mechanism,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_that_reach_the_workers_files_tokens_or_other_hosts_are_refused_by_name() {
        for (uri, named) in [
            (
                "mongodb://evil:27017/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:k8s",
                "authmechanismproperties",
            ),
            ("mongodb://evil/?authMechanism=MONGODB-OIDC", "MONGODB-OIDC"),
            ("mongodb://evil/?authMechanism=MONGODB-X509", "MONGODB-X509"),
            ("mongodb://evil/?authMechanism=PLAIN", "PLAIN"),
            (
                "mongodb://evil/?tls=true&tlsCAFile=/etc/shadow",
                "tlscafile",
            ),
            (
                "mongodb://evil/?tlsCertificateKeyFile=/var/run/secrets/key.pem",
                "tlscertificatekeyfile",
            ),
            ("mongodb://evil/?tlsInsecure=true", "tlsinsecure"),
            ("mongodb://evil/?proxyHost=10.0.0.1", "proxyhost"),
            ("mongodb://evil/?loadBalanced=true", "loadbalanced"),
            ("mongodb://evil/?compressors=zlib", "compressors"),
            ("mongodb://evil/?someNewOption=1", "somenewoption"),
        ] {
            let e = read(uri).unwrap_err();
            assert!(e.contains(named), "{uri}: {e}");
        }
        assert!(read("mongodb://%2Ftmp%2Fmongodb-27017.sock").is_err());
        assert!(read("mongodb://user@169.254.169.254@evil/").is_err());
    }

    #[test]
    fn an_ordinary_connection_string_is_read_into_seeds_and_a_scram_login() {
        let t = read("mongodb://ann:s3cret@a.example.com:27018,b.example.com/?replicaSet=rs0&authSource=admin&authMechanism=SCRAM-SHA-256&tls=true&appName=x").unwrap();
        assert_eq!(
            t.seeds,
            Seeds::Hosts(vec![
                ("a.example.com".into(), 27018),
                ("b.example.com".into(), 27017)
            ])
        );
        assert_eq!(t.username.as_deref(), Some("ann"));
        assert_eq!(t.password.as_deref(), Some("s3cret"));
        assert_eq!(t.auth_source.as_deref(), Some("admin"));
        assert!(matches!(t.mechanism, Some(AuthMechanism::ScramSha256)));
        assert_eq!(t.tls, Some(true));
        let srv = read("mongodb+srv://cluster0.example.net/").unwrap();
        assert_eq!(srv.seeds, Seeds::Srv("cluster0.example.net".into()));
    }
}
