//! Connecting: the driver's settings from the config, the TDS login on the guard's
//! socket (a routing answer followed once), and the mapping of SQL Server's errors
//! into connector errors.

use secrecy::ExposeSecret;
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::config::MssqlConfig;
use crate::connectors::Net;
use crate::connectors::net::TargetStream;
use crate::connectors::{ConnectorError, Fault};

pub type MssqlSession = Client<Compat<TargetStream>>;

impl MssqlConfig {
    pub fn tiberius(&self, host: &str, port: u16) -> Config {
        let mut config = Config::new();
        config.host(host);
        config.port(port);
        config.database(&self.database);
        config.application_name("onramp");
        config.authentication(AuthMethod::sql_server(
            &self.user,
            self.password.expose_secret(),
        ));
        config.encryption(match self.encrypt.as_str() {
            "strict" => EncryptionLevel::Strict,
            "off" => EncryptionLevel::Off,
            _ => EncryptionLevel::Required,
        });
        if self.trust_server_certificate {
            config.trust_cert();
        } else if let Some(ca) = &self.ca_certificate {
            // In memory, on top of the system store (tiberius has no "only these").
            config.trust_cert_ca_bundle(ca.as_bytes());
        }
        config
    }
}

/// What a SQL Server error number means for the user: 18456 login failed, 4060
/// cannot open the database, 229/230/262/300 a missing permission, 916 no access
/// to the database.
pub fn fault_for_code(code: u32) -> Option<(Fault, &'static str)> {
    match code {
        18456 | 18470 | 18486 | 18487 | 18488 => Some((
            Fault::Authentication,
            "check the user and password, and that SQL Server authentication is enabled",
        )),
        4060 | 911 => Some((
            Fault::UnknownDatabase,
            "check the database name, and that the login has a user in it",
        )),
        229 | 230 | 262 | 300 | 916 => Some((
            Fault::Permission,
            "grant the login VIEW DEFINITION on the database (or db_datareader)",
        )),
        _ => None,
    }
}

pub fn map_error(e: &tiberius::error::Error, target: &str) -> ConnectorError {
    let short = crate::connectors::support::limits::short(&e.to_string());
    if let Some((fault, hint)) = e.code().and_then(fault_for_code) {
        return ConnectorError::new(fault, format!("sql server refused: {short}"), hint);
    }
    match e {
        tiberius::error::Error::Tls(m) => ConnectorError::new(
            Fault::Tls,
            format!("tls with {target} failed: {m}"),
            "set trustServerCertificate for a self-signed certificate, or encrypt to match the server",
        ),
        tiberius::error::Error::Io { message, .. } => ConnectorError::new(
            Fault::Unreachable,
            format!("the connection to {target} broke: {message}"),
            "check that the server is SQL Server and that it accepts connections from onramp's workers",
        ),
        tiberius::error::Error::Server(_) => ConnectorError::new(
            Fault::Protocol,
            format!("sql server answered an error: {short}"),
            "see the SQL Server error log",
        ),
        _ => ConnectorError::new(
            Fault::Protocol,
            format!("the TDS exchange failed: {short}"),
            "check that the server is SQL Server 2012 or later",
        ),
    }
}

/// The guard's socket, then the TDS login on it; the outer error is the guard's.
async fn open(
    cfg: &MssqlConfig,
    net: &Net,
    host: &str,
    port: u16,
) -> Result<Result<MssqlSession, tiberius::error::Error>, ConnectorError> {
    let tcp = net.tcp(host, port).await?;
    Ok(Client::connect(cfg.tiberius(host, port), tcp.compat_write()).await)
}

pub async fn connect(cfg: &MssqlConfig, net: &Net) -> Result<MssqlSession, ConnectorError> {
    let target = format!("{}:{}", cfg.server, cfg.port);
    match open(cfg, net, &cfg.server, cfg.port).await? {
        Ok(client) => Ok(client),
        // Azure SQL's gateway sends the client on to the database's node.
        Err(tiberius::error::Error::Routing { host, port }) => open(cfg, net, &host, port)
            .await?
            .map_err(|e| map_error(&e, &format!("{host}:{port}"))),
        Err(e) => Err(map_error(&e, &target)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn server_error_numbers_map_onto_faults() {
        assert_eq!(fault_for_code(18456).unwrap().0, Fault::Authentication);
        assert_eq!(fault_for_code(4060).unwrap().0, Fault::UnknownDatabase);
        assert_eq!(fault_for_code(229).unwrap().0, Fault::Permission);
        assert!(fault_for_code(102).is_none());
    }

    #[test]
    fn transport_errors_name_the_target_and_never_the_password() {
        let tls = map_error(
            &tiberius::error::Error::Tls("certificate unknown".into()),
            "db:1433",
        );
        assert_eq!(tls.fault, Fault::Tls);
        assert!(tls.message.contains("db:1433"));
        let io = map_error(
            &tiberius::error::Error::Io {
                kind: std::io::ErrorKind::ConnectionReset,
                message: "reset".into(),
            },
            "db:1433",
        );
        assert_eq!(io.fault, Fault::Unreachable);
        let protocol = map_error(
            &tiberius::error::Error::Protocol("bad token".into()),
            "db:1433",
        );
        assert_eq!(protocol.fault, Fault::Protocol);
    }

    #[test]
    fn the_driver_is_pointed_at_the_routed_server_and_port() {
        let cfg = MssqlConfig {
            server: "sql.example.com".into(),
            port: 1433,
            user: "reader".into(),
            password: SecretString::from("pw"),
            database: "Sales".into(),
            schema: None,
            encrypt: "strict".into(),
            trust_server_certificate: false,
            ca_certificate: None,
            schema_filters: Default::default(),
        };
        // A routing answer sends the login to another node: the address given wins.
        let config = cfg.tiberius("node-7.sql.example.com", 11000);
        assert_eq!(config.get_addr(), "node-7.sql.example.com:11000");
    }
}
