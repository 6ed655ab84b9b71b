//! The commands of the people's CLI and what each prints.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Api, Failure, REFUSED, Remote, job_exit, watch};

#[derive(Debug, clap::Args)]
pub struct Create {
    #[command(flatten)]
    pub remote: Remote,
    /// The datasource type, e.g. postgres.
    #[arg(long = "type")]
    pub datasource_type: String,
    /// A JSON file of credentials, as in a create request (`-` for standard input).
    #[arg(long)]
    pub credentials: PathBuf,
    /// A JSON file of tenancy settings.
    #[arg(long)]
    pub tenancy: Option<PathBuf>,
    /// The datasource's name, instead of the credentials' `name`.
    #[arg(long)]
    pub name: Option<String>,
    /// Follow the job to its end, showing its steps.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Jobs {
    /// Follow a job to its end, showing its steps.
    Watch { id: String },
    /// A job's state as JSON.
    Get { id: String },
}

#[derive(Debug, clap::Subcommand)]
pub enum Datasources {
    /// Every datasource: name, type, status, tables.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One datasource as JSON (without secrets).
    Get { name: String },
    /// Delete a datasource and its snapshot.
    Delete { name: String },
    /// Discover a datasource again.
    Sync {
        name: String,
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum Webhooks {
    /// The organisation's webhooks.
    List,
    /// A webhook; its signing secret is printed once.
    Create {
        #[arg(long)]
        url: String,
        /// Comma-separated event types, or `*`.
        #[arg(long, default_value = "*")]
        events: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// One webhook as JSON.
    Get { id: String },
    /// Delete a webhook.
    Delete { id: String },
    /// Send it a webhook.test event.
    Test { id: String },
    /// Its delivery log, newest first.
    Deliveries { id: String },
    /// Enable a disabled webhook.
    Enable { id: String },
    /// A new signing secret (printed once); the old one signs for a grace period.
    Rotate { id: String },
}

fn read_json(path: &Path, what: &str) -> Result<Value, Failure> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| super::failure(REFUSED, format!("reading {what} {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        super::failure(
            REFUSED,
            format!("{what} {} is not JSON: {e}", path.display()),
        )
    })
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Rows under a header, each column as wide as its widest cell (cut to 60).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cut = |s: &str| -> String {
        let clean: String = s
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if clean.chars().count() > 60 {
            clean.chars().take(59).chain(['…']).collect()
        } else {
            clean
        }
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cut(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub async fn create(args: Create) -> Result<(), Failure> {
    let api = Api::new(&args.remote)?;
    let mut credentials = read_json(&args.credentials, "credentials")?;
    if let (Some(name), Some(obj)) = (&args.name, credentials.as_object_mut()) {
        obj.insert("name".into(), json!(name));
    }
    let mut body = json!({"datasourceType": args.datasource_type, "credentials": credentials});
    if let Some(path) = &args.tenancy {
        body["tenancySettings"] = read_json(path, "tenancy settings")?;
    }
    let url = api.url(&["api", "v2", "datasource"], &[]);
    let accepted = api
        .send(api.request(reqwest::Method::POST, url).json(&body))
        .await?;
    let job_id = accepted["jobId"].as_str().unwrap_or_default().to_string();
    eprintln!(
        "accepted: datasource {} (job {job_id})",
        text(&accepted["name"])
    );
    if args.wait {
        let job = watch(&api, &job_id).await?;
        job_exit(&job)?;
    } else {
        println!("{job_id}");
    }
    Ok(())
}

pub async fn jobs(remote: Remote, command: Jobs) -> Result<(), Failure> {
    let api = Api::new(&remote)?;
    match command {
        Jobs::Watch { id } => {
            let job = watch(&api, &id).await?;
            job_exit(&job)
        }
        Jobs::Get { id } => {
            let url = api.url(&["api", "v2", "jobs", &id], &[]);
            print_json(&api.send(api.request(reqwest::Method::GET, url)).await?);
            Ok(())
        }
    }
}

pub async fn datasources(remote: Remote, command: Datasources) -> Result<(), Failure> {
    let api = Api::new(&remote)?;
    match command {
        Datasources::List { json } => {
            let mut all = Vec::new();
            for page in 1.. {
                let number = page.to_string();
                let url = api.url(
                    &["api", "v2", "datasource"],
                    &[
                        ("isPagination", "true"),
                        ("pageSize", "500"),
                        ("pageNumber", &number),
                    ],
                );
                let answer = api.send(api.request(reqwest::Method::GET, url)).await?;
                let data = answer["data"].as_array().cloned().unwrap_or_default();
                let total = answer["pagination"]["total"].as_u64().unwrap_or(0) as usize;
                let empty = data.is_empty();
                all.extend(data);
                if empty || all.len() >= total {
                    break;
                }
            }
            if json {
                print_json(&Value::Array(all));
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|d| {
                        vec![
                            text(&d["name"]),
                            text(&d["datasourceType"]),
                            text(&d["status"]),
                            text(&d["schema"]["tables"]),
                            text(&d["updatedAt"]),
                        ]
                    })
                    .collect();
                println!(
                    "{}",
                    table(&["NAME", "TYPE", "STATUS", "TABLES", "UPDATED"], &rows)
                );
            }
            Ok(())
        }
        Datasources::Get { name } => {
            let url = api.url(&["api", "v2", "datasource", &name], &[]);
            print_json(&api.send(api.request(reqwest::Method::GET, url)).await?);
            Ok(())
        }
        Datasources::Delete { name } => {
            let url = api.url(&["api", "v2", "datasource"], &[("datasourceName", &name)]);
            api.send(api.request(reqwest::Method::DELETE, url)).await?;
            eprintln!("deleted {name}");
            Ok(())
        }
        Datasources::Sync { name, wait } => {
            let url = api.url(&["api", "v2", "datasource", "sync"], &[]);
            let body = json!({"datasourceName": name});
            let accepted = api
                .send(api.request(reqwest::Method::POST, url).json(&body))
                .await?;
            let job_id = text(&accepted["jobId"]);
            if wait {
                let job = watch(&api, &job_id).await?;
                job_exit(&job)
            } else {
                println!("{job_id}");
                Ok(())
            }
        }
    }
}

/// `onramp schema NAME`: each table with its column count, or the snapshot as JSON.
pub async fn schema(remote: Remote, name: String, json: bool) -> Result<(), Failure> {
    let api = Api::new(&remote)?;
    let url = api.url(&["api", "v2", "datasource", &name, "schema"], &[]);
    let snapshot = api.send(api.request(reqwest::Method::GET, url)).await?;
    if json {
        print_json(&snapshot);
        return Ok(());
    }
    let mut rows = Vec::new();
    for db in snapshot["databases"].as_array().into_iter().flatten() {
        for schema in db["schemas"].as_array().into_iter().flatten() {
            for t in schema["tables"].as_array().into_iter().flatten() {
                rows.push(vec![
                    text(&db["name"]),
                    text(&schema["name"]),
                    text(&t["name"]),
                    text(&t["kind"]),
                    t["columns"].as_array().map_or(0, Vec::len).to_string(),
                ]);
            }
        }
    }
    println!(
        "{}",
        table(&["DATABASE", "SCHEMA", "TABLE", "KIND", "COLUMNS"], &rows)
    );
    let s = &snapshot["stats"];
    println!(
        "{} schemas, {} tables, {} columns; hash {}",
        text(&s["schemas"]),
        text(&s["tables"]),
        text(&s["columns"]),
        text(&snapshot["hash"])
    );
    Ok(())
}

pub async fn webhooks(remote: Remote, command: Webhooks) -> Result<(), Failure> {
    let api = Api::new(&remote)?;
    let one = |id: &str, rest: &[&str]| {
        let mut segments = vec!["api", "v2", "webhooks"];
        segments.push(id);
        segments.extend(rest);
        api.url(&segments, &[])
    };
    use reqwest::Method;
    let answer = match command {
        Webhooks::List => {
            let url = api.url(&["api", "v2", "webhooks"], &[("pageSize", "100")]);
            let page = api.send(api.request(Method::GET, url)).await?;
            let rows: Vec<Vec<String>> = page["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|w| {
                    vec![
                        text(&w["id"]),
                        text(&w["url"]),
                        w["events"]
                            .as_array()
                            .map(|e| e.iter().map(text).collect::<Vec<_>>().join(","))
                            .unwrap_or_default(),
                        if w["enabled"] == true {
                            "enabled".into()
                        } else {
                            "disabled".into()
                        },
                        text(&w["consecutiveFailures"]),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(&["ID", "URL", "EVENTS", "STATE", "FAILURES"], &rows)
            );
            return Ok(());
        }
        Webhooks::Create {
            url,
            events,
            description,
        } => {
            let events: Vec<&str> = events.split(',').map(str::trim).collect();
            let body = json!({"url": url, "events": events, "description": description});
            let target = api.url(&["api", "v2", "webhooks"], &[]);
            let hook = api
                .send(api.request(Method::POST, target).json(&body))
                .await?;
            eprintln!(
                "webhook {} created; its signing secret, shown only this once:",
                text(&hook["id"])
            );
            println!("{}", text(&hook["secret"]));
            return Ok(());
        }
        Webhooks::Get { id } => api.send(api.request(Method::GET, one(&id, &[]))).await?,
        Webhooks::Delete { id } => api.send(api.request(Method::DELETE, one(&id, &[]))).await?,
        Webhooks::Test { id } => {
            api.send(api.request(Method::POST, one(&id, &["test"])))
                .await?
        }
        Webhooks::Deliveries { id } => {
            let page = api
                .send(api.request(Method::GET, one(&id, &["deliveries"])))
                .await?;
            let rows: Vec<Vec<String>> = page["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    vec![
                        text(&d["id"]),
                        text(&d["eventType"]),
                        text(&d["status"]),
                        text(&d["attempts"]),
                        text(&d["lastStatusCode"]),
                        text(&d["lastError"]),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(
                    &["ID", "EVENT", "STATUS", "ATTEMPTS", "CODE", "ERROR"],
                    &rows
                )
            );
            return Ok(());
        }
        Webhooks::Enable { id } => {
            let body = json!({"enabled": true});
            api.send(api.request(Method::PATCH, one(&id, &[])).json(&body))
                .await?
        }
        Webhooks::Rotate { id } => {
            let body = json!({"rotateSecret": true});
            let hook = api
                .send(api.request(Method::PATCH, one(&id, &[])).json(&body))
                .await?;
            eprintln!(
                "new signing secret, shown only this once; the old one signs until {}:",
                text(&hook["previousSecretUntil"])
            );
            println!("{}", text(&hook["secret"]));
            return Ok(());
        }
    };
    print_json(&answer);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_cut_hostile_cells() {
        let rows = vec![
            vec!["a".to_string(), "x\u{1b}[2Jy".to_string()],
            vec!["long".repeat(20), "z".into()],
        ];
        let t = table(&["NAME", "V"], &rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(!t.contains('\u{1b}'));
        assert!(lines[2].starts_with(&"long".repeat(20)[..59]));
        assert!(lines[2].contains('…'));
        let col = lines[0].find('V').unwrap();
        assert_eq!(lines[1].find("x [2Jy"), Some(col));
    }
}
