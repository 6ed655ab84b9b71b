//! Benchmark 6: snapshots in Redis. Takes a snapshot `onramp discover` wrote (the
//! reference workload: BENCHMARKS.md says how) and stores `copies` of it, each under its
//! own datasource, in a Redis server of the benchmark's own (a fresh `redis-server` on
//! 127.0.0.1:16399, nothing on disk): first as the plain JSON strings onramp stored
//! before (the floor it replaces), then through `SnapshotStore::put` as zstd frames.
//! Redis's `used_memory` after each is the figure. Then it times reads of one copy:
//! the whole as JSON (before), the whole as stored (zstd, what a client taking zstd
//! gets), one schema and one table; and zstd's levels on the same JSON in one frame,
//! beside the frames' size.
//!
//!     cargo run --release --example snapshots -- SNAPSHOT.json [copies]

use std::sync::Arc;
use std::time::{Duration, Instant};

use onramp::domain::snapshot::Snapshot;
use onramp::domain::{DatasourceId, JobId, OrgId};
use onramp::storage::snapshots::{Part, SnapshotStore, framing};
use redis::AsyncCommands;

const PORT: u16 = 16399;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO memory")
}

/// Times `f` `runs` times; the median in milliseconds.
async fn timed<F, Fut>(runs: usize, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut ms = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(f().await);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    median(ms)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .expect("usage: snapshots SNAPSHOT.json [copies]");
    let copies: usize = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(1000);
    let json = std::fs::read(path).expect("the snapshot file");
    let snapshot: Arc<Snapshot> = Arc::new(serde_json::from_slice(&json).expect("a snapshot"));
    // The JSON as onramp serialises it (the file may be formatted otherwise).
    let json = serde_json::to_vec(&*snapshot).unwrap();
    let columns = snapshot.stats.columns.max(1);

    let dir = tempfile_dir();
    let mut server = std::process::Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &PORT.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server runs");
    let url = format!("redis://127.0.0.1:{PORT}/");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = loop {
        if let Ok(c) = client.get_multiplexed_async_connection().await {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let empty = used_memory(&mut conn).await;

    // Before: the plain JSON string and its metadata hash, as onramp stored them.
    let org = OrgId::generate();
    let started = Instant::now();
    for i in 0..copies {
        let base = format!("bench:org:{org}:datasource:{i}");
        let _: () = redis::pipe()
            .set(format!("{base}:snapshot"), &json)
            .hset_multiple(
                format!("{base}:meta"),
                &[
                    ("hash", snapshot.hash.clone()),
                    ("version", "1".into()),
                    ("discoveredAt", snapshot.discovered_at.to_rfc3339()),
                    ("bytes", json.len().to_string()),
                    ("seq", "1".into()),
                    ("jobId", JobId::generate().to_string()),
                ],
            )
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let plain_write_s = started.elapsed().as_secs_f64();
    let plain = used_memory(&mut conn).await - empty;
    let one_plain = format!("bench:org:{org}:datasource:0:snapshot");
    let read_plain = timed(20, || {
        let mut c = conn.clone();
        let key = one_plain.clone();
        async move {
            let v: Vec<u8> = c.get(key).await.unwrap();
            v.len()
        }
    })
    .await;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let empty = used_memory(&mut conn).await;

    // After: through the store, each copy its own datasource.
    let mut settings = onramp::config::Settings {
        redis_url: url.clone().into(),
        prefix: "bench".into(),
        ..Default::default()
    };
    settings.cache_timeout = Duration::from_secs(30);
    let store = SnapshotStore::new(&settings).unwrap();
    let ids: Vec<DatasourceId> = (0..copies).map(|_| DatasourceId::generate()).collect();
    let started = Instant::now();
    for id in &ids {
        store
            .put(org, *id, snapshot.clone(), 1, JobId::generate())
            .await
            .unwrap();
    }
    let framed_write_s = started.elapsed().as_secs_f64();
    let framed_mem = used_memory(&mut conn).await - empty;
    let framed = framing::frame(&snapshot).unwrap();

    let first = ids[0];
    let read_zstd = timed(20, || async {
        let r = store.get(org, first).await.unwrap().unwrap();
        match r.body {
            onramp::storage::snapshots::Body::Zstd(z) => z.len(),
            onramp::storage::snapshots::Body::Json(j) => j.len(),
        }
    })
    .await;
    let read_inflated = timed(20, || async {
        let r = store.get(org, first).await.unwrap().unwrap();
        let limit = r.limit();
        r.body.into_json(limit).unwrap().len()
    })
    .await;
    let schema = snapshot.databases.first().and_then(|d| d.schemas.first());
    let schema_name = schema.map(|s| s.name.clone());
    let table_name = schema
        .and_then(|s| s.tables.get(s.tables.len() / 2))
        .map(|t| t.name.clone());
    let one_schema = Part {
        schema: schema_name.clone(),
        ..Default::default()
    };
    let one_table = Part {
        schema: schema_name.clone(),
        table: table_name.clone(),
        ..Default::default()
    };
    let part_len = |p: Part| {
        let store = &store;
        move || {
            let p = p.clone();
            async move {
                let r = store
                    .get_part(org, first, &p)
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap();
                let limit = r.limit();
                r.body.into_json(limit).unwrap().len()
            }
        }
    };
    let read_schema = timed(20, part_len(one_schema)).await;
    let read_table = timed(50, part_len(one_table)).await;

    // zstd's levels on the whole JSON in one frame, for the choice of level 3.
    // Medians of 3 after a warm-up, so that the first level does not pay for the rest.
    let _ = zstd::bulk::compress(&json, 3).unwrap();
    let mut levels = Vec::new();
    for level in [1, 3, 9, 19] {
        let mut size = 0;
        let mut ms = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            size = zstd::bulk::compress(&json, level).unwrap().len();
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        levels.push((level, size, median(ms)));
    }
    let mut ms = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let _ = framing::frame(&snapshot).unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let frame_ms = median(ms);
    let serialise_ms = {
        let t = Instant::now();
        let _ = serde_json::to_vec(&*snapshot).unwrap();
        t.elapsed().as_secs_f64() * 1e3
    };

    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "snapshot: {} tables, {} columns, {} bytes of JSON",
        snapshot.stats.tables,
        columns,
        json.len()
    );
    println!();
    println!(
        "| {copies} copies in Redis | bytes stored per snapshot | bytes per column | Redis used_memory MiB | write s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    println!(
        "| before: plain JSON | {} | {:.1} | {:.1} | {:.1} |",
        json.len(),
        json.len() as f64 / columns as f64,
        mib(plain),
        plain_write_s
    );
    println!(
        "| after: zstd frames (+ index {} bytes) | {} | {:.1} | {:.1} | {:.1} |",
        framed.index.len(),
        framed.value.len(),
        (framed.value.len() + framed.index.len()) as f64 / columns as f64,
        mib(framed_mem),
        framed_write_s
    );
    println!(
        "Redis memory after / before: {:.3}",
        framed_mem as f64 / plain as f64
    );
    println!();
    println!("| read of one copy | median ms |");
    println!("| --- | ---: |");
    println!("| before: GET of the plain JSON | {read_plain:.2} |");
    println!("| after: whole, as stored (zstd to the client) | {read_zstd:.2} |");
    println!("| after: whole, inflated to JSON | {read_inflated:.2} |");
    println!(
        "| after: one schema ({:?}), inflated | {read_schema:.2} |",
        schema_name.unwrap_or_default()
    );
    println!(
        "| after: one table ({:?}), inflated | {read_table:.2} |",
        table_name.unwrap_or_default()
    );
    println!();
    println!("| zstd, one frame of the whole JSON | bytes | ms |");
    println!("| --- | ---: | ---: |");
    for (level, size, ms) in &levels {
        println!("| level {level} | {size} | {ms:.1} |");
    }
    println!(
        "| onramp's frames (level 3, ~256 KiB of tables each; serialising, index and all) | {} | {frame_ms:.1} |",
        framed.value.len()
    );
    println!(
        "| (serde_json::to_vec of the snapshot alone) | {} | {serialise_ms:.1} |",
        json.len()
    );
    println!(
        "{}",
        serde_json::json!({
            "copies": copies, "json_bytes": json.len(), "stored_bytes": framed.value.len(),
            "index_bytes": framed.index.len(), "columns": columns,
            "redis_plain_bytes": plain, "redis_framed_bytes": framed_mem,
            "read_ms": {"plain": read_plain, "zstd": read_zstd, "inflated": read_inflated,
                        "schema": read_schema, "table": read_table},
            "levels": levels.iter().map(|(l, s, ms)| serde_json::json!({"level": l, "bytes": s, "ms": ms})).collect::<Vec<_>>(),
            "frames_ms": frame_ms, "serialise_ms": serialise_ms,
        })
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("onramp-bench-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
