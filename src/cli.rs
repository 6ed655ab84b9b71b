//! The command line: `onramp serve | api | worker | token | discover | migrate | schemas`,
//! and the people's commands against a running API (`create`, `jobs`, `datasources`,
//! `schema`, `webhooks`; see `crate::client`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::client;
use crate::config::Settings;
use crate::connectors::pipeline::{self, Undiscovered};
use crate::connectors::{ConnectorError, DatasourceType};
use crate::startup::{Application, Roles};
use crate::storage;

#[derive(Debug, Parser)]
#[command(
    name = "onramp",
    version,
    about = "onboards databases and warehouses: accept, queue, test, discover, cache, announce"
)]
pub struct Cli {
    /// A TOML file of settings (default: ./onramp.toml when present); ONRAMP_* variables override it.
    #[arg(long, global = true, env = "ONRAMP_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Commands that need no more than one thread.
    pub fn single_threaded(&self) -> bool {
        matches!(self.command, Command::Discover { .. })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The HTTP API and a pool of workers in one process.
    Serve,
    /// Only the HTTP API.
    Api,
    /// Only a worker; run as many as the load needs.
    Worker,
    /// Service tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run one connector inline and print its snapshot JSON.
    Discover {
        /// The datasource type, e.g. postgres.
        #[arg(long = "type")]
        datasource_type: String,
        /// A JSON file of credentials, as in a create request (`name` optional).
        #[arg(long)]
        credentials: PathBuf,
        /// Write the snapshot here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Create onramp's database if needed and apply migrations.
    Migrate,
    /// Write the JSON Schemas of requests, messages, events and the snapshot.
    Schemas {
        #[arg(long, default_value = "schemas")]
        out: PathBuf,
    },
    /// Create a datasource through the API (ONRAMP_API_URL, ONRAMP_TOKEN); --wait
    /// follows its job.
    Create(client::commands::Create),
    /// Follow or read a job through the API.
    Jobs {
        #[command(flatten)]
        remote: client::Remote,
        #[command(subcommand)]
        command: client::commands::Jobs,
    },
    /// List, read, delete or sync datasources through the API.
    Datasources {
        #[command(flatten)]
        remote: client::Remote,
        #[command(subcommand)]
        command: client::commands::Datasources,
    },
    /// A datasource's schemas, tables and column counts (or its snapshot, --json).
    Schema {
        #[command(flatten)]
        remote: client::Remote,
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Manage webhooks through the API.
    Webhooks {
        #[command(flatten)]
        remote: client::Remote,
        #[command(subcommand)]
        command: client::commands::Webhooks,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for an organisation (created when new); the token is printed once.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        label: Option<String>,
    },
    /// Revoke a token, given its id or the token itself.
    Revoke { token: String },
    /// List tokens (never their values).
    List {
        #[arg(long)]
        org: Option<String>,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    use client::commands;
    // The people's commands talk to an API: they read no settings and start nothing.
    let command = match cli.command {
        Command::Create(args) => return Ok(commands::create(args).await?),
        Command::Jobs { remote, command } => return Ok(commands::jobs(remote, command).await?),
        Command::Datasources { remote, command } => {
            return Ok(commands::datasources(remote, command).await?);
        }
        Command::Schema { remote, name, json } => {
            return Ok(commands::schema(remote, name, json).await?);
        }
        Command::Webhooks { remote, command } => {
            return Ok(commands::webhooks(remote, command).await?);
        }
        other => other,
    };
    let settings = Settings::load(cli.config.as_deref())?;
    crate::telemetry::init_logs(&settings.log_format);
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match command {
        Command::Serve => {
            serve(
                settings,
                Roles {
                    api: true,
                    worker: true,
                },
            )
            .await
        }
        Command::Api => {
            serve(
                settings,
                Roles {
                    api: true,
                    worker: false,
                },
            )
            .await
        }
        Command::Worker => {
            serve(
                settings,
                Roles {
                    api: false,
                    worker: true,
                },
            )
            .await
        }
        Command::Token(t) => token(settings, t).await,
        Command::Discover {
            datasource_type,
            credentials,
            output,
        } => discover(&settings, &datasource_type, &credentials, output).await,
        Command::Migrate => {
            storage::ensure_database(&settings).await?;
            storage::migrate(&storage::pool(&settings)?).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Schemas { out } => {
            crate::schemas::write_all(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!("schemas written to {}", out.display());
            Ok(())
        }
        Command::Create(_)
        | Command::Jobs { .. }
        | Command::Datasources { .. }
        | Command::Schema { .. }
        | Command::Webhooks { .. } => unreachable!("answered above"),
    }
}

async fn serve(settings: Settings, roles: Roles) -> anyhow::Result<()> {
    let app = Application::build(settings, roles).await?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested; draining");
        signal.cancel();
    });
    app.run(shutdown).await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("sigterm handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn token(settings: Settings, command: TokenCommand) -> anyhow::Result<()> {
    storage::ensure_database(&settings).await?;
    let pool = storage::pool(&settings)?;
    storage::migrate(&pool).await?;
    match command {
        TokenCommand::Create { org, label } => {
            if org.trim().is_empty() || org.len() > 128 {
                bail!("--org must be 1 to 128 characters");
            }
            let (org_id, id, token) =
                storage::tokens::create(&pool, &org, label.as_deref()).await?;
            eprintln!(
                "token {id} created for organisation {org} ({org_id}); it is shown only this once:"
            );
            println!("{token}");
        }
        TokenCommand::Revoke { token } => {
            if storage::tokens::revoke(&pool, &token).await? {
                eprintln!("token revoked");
            } else {
                bail!("no live token matches");
            }
        }
        TokenCommand::List { org } => {
            for t in storage::tokens::list(&pool, org.as_deref()).await? {
                let state = t
                    .revoked_at
                    .map(|r| format!("revoked {r}"))
                    .unwrap_or_else(|| "live".into());
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.org,
                    t.label.unwrap_or_default(),
                    t.created_at,
                    state
                );
            }
        }
    }
    Ok(())
}

async fn discover(
    settings: &Settings,
    ty: &str,
    path: &PathBuf,
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
    let Some(ty) = DatasourceType::parse(ty) else {
        bail!(
            "unknown type {ty:?}; known types: {}",
            DatasourceType::known_list()
        );
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut credentials: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    if let Some(obj) = credentials.as_object_mut() {
        obj.entry("name").or_insert_with(|| "discover".into());
    }
    let config = pipeline::configure(ty.as_str(), &credentials).map_err(|problems| {
        let lines: Vec<String> = problems
            .iter()
            .map(|p| format!("  {}: {}", p.field, p.problem))
            .collect();
        anyhow::anyhow!("invalid credentials:\n{}", lines.join("\n"))
    })?;
    let report =
        |step: &str, e: ConnectorError| anyhow::anyhow!("{step}: {}\nhint: {}", e.message, e.hint);
    let mut net = crate::connectors::Net::new(crate::egress::Egress::new(
        settings.egress_policy().map_err(anyhow::Error::msg)?,
    ))
    .with_aws(crate::connectors::support::aws::Platform::from_chain(
        settings.aws_sts_endpoint.clone(),
    ));
    // Nothing is pinned outside a datasource: the fingerprint given, or the one
    // presented, which is printed so that it can be given next time.
    if let Some(t) = config.tunnel() {
        let tunnel = pipeline::tunnel(t, &net, None, settings.tunnel_timeout)
            .await
            .map_err(|e| report("tunnel", e))?;
        eprintln!(
            "tunnel open through {}; host key {}",
            tunnel.bastion(),
            tunnel.fingerprint()
        );
        net = net.through(tunnel);
    }
    let (conn, _) = pipeline::connect(&config, &net, settings.connect_timeout)
        .await
        .map_err(|e| report("connect", e))?;
    let snapshot = match pipeline::discover(conn, None, settings.discover_timeout).await {
        Ok(found) => found.snapshot,
        Err(Undiscovered::Target(e)) => {
            return Err(report("discover", pipeline::explained(&net, e).await));
        }
        Err(Undiscovered::Tenancy(why)) => bail!("discover: {why}"),
    };
    let mut out: Box<dyn Write> = match &output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    serde_json::to_writer(&mut out, &*snapshot)?;
    writeln!(out)?;
    out.flush()?;
    eprintln!(
        "discovered {} tables, {} columns in {} schemas in {} ms",
        snapshot.stats.tables, snapshot.stats.columns, snapshot.stats.schemas, snapshot.duration_ms
    );
    Ok(())
}
