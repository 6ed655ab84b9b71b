//! The snapshot store against a real Redis and a real 3-master Redis Cluster (started
//! by scripts/test-servers.sh on 17101-17103): zstd frames that inflate to the JSON,
//! partial reads that match the snapshot cut by hand, the compare-and-set on the job's
//! sequence, and the layout before the hash tag still read and replaced.

use onramp::domain::snapshot::{Column, Database, Schema, Snapshot, Table, TableKind, TypeFamily};
use onramp::domain::{DatasourceId, JobId, OrgId};
use onramp::storage::snapshots::{Body, Part, Put, SnapshotStore};

use crate::helpers::{redis_at, test_settings, unique};

pub const CLUSTER_NODES: &str = "redis://127.0.0.1:17101/,redis://127.0.0.1:17102/";

fn table(name: &str) -> Table {
    Table {
        name: name.into(),
        kind: TableKind::Table,
        primary_key: vec!["id".into()],
        columns: (0..16)
            .map(|i| Column {
                name: format!("column_{i}"),
                ordinal: i + 1,
                native_type: "integer".into(),
                family: TypeFamily::Integer,
                nullable: i > 0,
                default: None,
                comment: None,
            })
            .collect(),
        ..Default::default()
    }
}

fn schema(name: &str, tables: usize) -> Schema {
    Schema {
        name: name.into(),
        tables: (0..tables).map(|i| table(&format!("t{i}"))).collect(),
    }
}

/// Two databases, a schema name in both, one schema of many frames, one empty.
fn wide(sales: usize) -> Snapshot {
    Snapshot::new(
        "postgres",
        vec![
            Database {
                name: "first".into(),
                schemas: vec![schema("public", 3), schema("sales", sales)],
            },
            Database {
                name: "second".into(),
                schemas: vec![schema("public", 2), schema("empty", 0)],
            },
        ],
        std::time::Instant::now(),
    )
}

fn part(database: Option<&str>, schema: Option<&str>, table: Option<&str>) -> Part {
    Part {
        database: database.map(Into::into),
        schema: schema.map(Into::into),
        table: table.map(Into::into),
    }
}

/// The oracle: the snapshot cut by hand, as JSON; `None` when nothing is left.
fn cut(s: &Snapshot, p: &Part) -> Option<Vec<u8>> {
    let mut s = s.clone();
    let wants = |want: &Option<String>, name: &str| want.as_deref().is_none_or(|w| w == name);
    for d in &mut s.databases {
        let db = d.name.clone();
        d.schemas.retain_mut(|sc| {
            if !wants(&p.database, &db) || !wants(&p.schema, &sc.name) {
                return false;
            }
            if p.table.is_some() {
                sc.tables.retain(|t| wants(&p.table, &t.name));
                return !sc.tables.is_empty();
            }
            true
        });
    }
    s.databases.retain(|d| !d.schemas.is_empty());
    (!s.databases.is_empty()).then(|| serde_json::to_vec(&s).unwrap())
}

fn json_of(body: Body) -> Vec<u8> {
    body.into_json(1 << 28).unwrap()
}

/// Every kind of part, read from the store, equals the oracle's cut.
async fn parts_match_the_oracle(store: &SnapshotStore, org: OrgId, ds: DatasourceId, s: &Snapshot) {
    let parts = [
        part(None, Some("public"), None),
        part(None, Some("sales"), None),
        part(Some("second"), None, None),
        part(Some("second"), Some("public"), None),
        part(None, None, Some("t1")),
        part(None, Some("sales"), Some("t650")),
        part(Some("first"), Some("sales"), Some("t0")),
        part(None, Some("empty"), None),
        part(None, None, Some("nope")),
        part(None, Some("nope"), None),
        part(Some("second"), Some("sales"), None),
    ];
    for p in parts {
        let got = store.get_part(org, ds, &p).await.unwrap().expect("stored");
        match (cut(s, &p), got) {
            (None, None) => {}
            (Some(want), Some(read)) => {
                assert_eq!(read.meta.hash, s.hash);
                let got = json_of(read.body);
                assert!(got == want, "{p:?}: {}", String::from_utf8_lossy(&got));
            }
            (want, got) => panic!(
                "{p:?}: wanted {:?}, got {got:?}",
                want.map(String::from_utf8)
            ),
        }
    }
}

async fn store_reads_whole_and_in_part(store: &SnapshotStore) {
    let (org, ds) = (OrgId::generate(), DatasourceId::generate());
    let first = std::sync::Arc::new(wide(800));
    let job = JobId::generate();
    let (put, replaced) = store.put(org, ds, first.clone(), 1, job).await.unwrap();
    assert_eq!((put, replaced), (Put::Stored { version: 1 }, None));
    let read = store.get(org, ds).await.unwrap().expect("stored");
    let want = serde_json::to_vec(&*first).unwrap();
    assert_eq!(read.meta.bytes, want.len());
    let Body::Zstd(z) = &read.body else {
        panic!("stored as plain JSON")
    };
    // Compressed, and the stored bytes alone inflate to the JSON (frames in a row).
    assert!(z.len() * 8 < want.len(), "{} of {}", z.len(), want.len());
    assert_eq!(zstd::stream::decode_all(&z[..]).unwrap(), want);
    parts_match_the_oracle(store, org, ds, &first).await;

    // The compare-and-set: the same job again, then an older one, change nothing.
    let again = store.put(org, ds, first.clone(), 1, job).await.unwrap();
    assert_eq!(again, (Put::AlreadyStored, None));
    let older = store
        .put(org, ds, first.clone(), 0, JobId::generate())
        .await
        .unwrap();
    assert_eq!(
        older,
        (
            Put::Superseded {
                by_job: job.to_string()
            },
            None
        )
    );
    // A newer, different snapshot hands back the one it replaced.
    let second = std::sync::Arc::new(wide(20));
    let (put, replaced) = store
        .put(org, ds, second.clone(), 2, JobId::generate())
        .await
        .unwrap();
    assert_eq!(put, Put::Stored { version: 2 });
    assert_eq!(json_of(replaced.expect("the replaced snapshot")), want);
    parts_match_the_oracle(store, org, ds, &second).await;

    store.delete(org, ds).await.unwrap();
    assert!(store.get(org, ds).await.unwrap().is_none());
    assert!(
        store
            .get_part(org, ds, &part(None, Some("sales"), None))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn snapshots_are_frames_read_whole_or_in_part_on_one_redis() {
    let settings = test_settings(&unique("t"));
    let store = SnapshotStore::new(&settings).unwrap();
    store_reads_whole_and_in_part(&store).await;
}

#[tokio::test]
async fn snapshots_are_frames_read_whole_or_in_part_on_a_redis_cluster() {
    let mut settings = test_settings(&unique("t"));
    settings.redis_cluster = true;
    settings.redis_url = CLUSTER_NODES.into();
    let store = SnapshotStore::new(&settings).unwrap();
    store_reads_whole_and_in_part(&store).await;

    // Both keys of a datasource hash to one slot: the organisation's tag.
    let (org, ds) = (OrgId::generate(), DatasourceId::generate());
    let s = std::sync::Arc::new(wide(5));
    store.put(org, ds, s, 1, JobId::generate()).await.unwrap();
    let mut node = redis_at("redis://127.0.0.1:17101/").await;
    let base = format!("{}:{{org:{org}}}:datasource:{ds}", settings.prefix);
    let mut slots = Vec::new();
    for key in [
        format!("{base}:snapshot"),
        format!("{base}:meta"),
        format!("{{org:{org}}}"),
    ] {
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&key)
            .query_async(&mut node)
            .await
            .unwrap();
        slots.push(slot);
    }
    assert!(slots.iter().all(|s| *s == slots[0]), "{slots:?}");
    // The node that owns the slot holds both keys.
    let owner = cluster_node_of(&mut node, slots[0]).await;
    let mut owner = redis_at(&format!("redis://127.0.0.1:{owner}/")).await;
    let held: i64 = redis::cmd("EXISTS")
        .arg(format!("{base}:snapshot"))
        .query_async(&mut owner)
        .await
        .unwrap();
    assert_eq!(held, 1);
    store.delete(org, ds).await.unwrap();
    let held: i64 = redis::cmd("EXISTS")
        .arg(format!("{base}:meta"))
        .query_async(&mut owner)
        .await
        .unwrap();
    assert_eq!(held, 0);
}

/// The port of the master serving `slot`, from CLUSTER SLOTS.
async fn cluster_node_of(conn: &mut redis::aio::MultiplexedConnection, slot: i64) -> i64 {
    let ranges: Vec<redis::Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(conn)
        .await
        .unwrap();
    for range in ranges {
        let redis::Value::Array(fields) = range else {
            continue;
        };
        let (
            Some(redis::Value::Int(lo)),
            Some(redis::Value::Int(hi)),
            Some(redis::Value::Array(master)),
        ) = (fields.first(), fields.get(1), fields.get(2))
        else {
            continue;
        };
        if (*lo..=*hi).contains(&slot)
            && let Some(redis::Value::Int(port)) = master.get(1)
        {
            return *port;
        }
    }
    panic!("no master serves slot {slot}");
}

#[tokio::test]
async fn a_snapshot_stored_as_plain_json_under_the_old_keys_is_read_and_replaced() {
    let settings = test_settings(&unique("t"));
    let store = SnapshotStore::new(&settings).unwrap();
    let (org, ds) = (OrgId::generate(), DatasourceId::generate());
    let old = wide(300);
    let json = serde_json::to_vec(&old).unwrap();
    let base = format!("{}:org:{org}:datasource:{ds}", settings.prefix);
    let mut conn = redis_at("redis://127.0.0.1:6379/").await;
    let _: () = redis::pipe()
        .set(format!("{base}:snapshot"), &json)
        .hset_multiple(
            format!("{base}:meta"),
            &[
                ("hash", old.hash.as_str()),
                ("version", "3"),
                ("discoveredAt", "2026-11-01T00:00:00Z"),
                ("bytes", &json.len().to_string()),
                ("seq", "5"),
                ("jobId", "old-job"),
            ],
        )
        .query_async(&mut conn)
        .await
        .unwrap();

    let read = store
        .get(org, ds)
        .await
        .unwrap()
        .expect("read from the old keys");
    assert_eq!(
        (read.meta.version, read.body.clone()),
        (3, Body::Json(json.clone()))
    );
    parts_match_the_oracle(&store, org, ds, &old).await;
    // Its sequence still guards it.
    let older = store
        .put(org, ds, std::sync::Arc::new(wide(1)), 4, JobId::generate())
        .await
        .unwrap();
    assert_eq!(
        older,
        (
            Put::Superseded {
                by_job: "old-job".into()
            },
            None
        )
    );
    let new = std::sync::Arc::new(wide(2));
    let (put, replaced) = store
        .put(org, ds, new.clone(), 6, JobId::generate())
        .await
        .unwrap();
    assert_eq!(
        (put, replaced),
        (Put::Stored { version: 4 }, Some(Body::Json(json)))
    );
    let left: i64 = redis::cmd("EXISTS")
        .arg(format!("{base}:snapshot"))
        .arg(format!("{base}:meta"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        left, 0,
        "the old keys are removed by the write that replaced them"
    );
    let read = store.get(org, ds).await.unwrap().unwrap();
    assert_eq!(json_of(read.body), serde_json::to_vec(&*new).unwrap());
    store.delete(org, ds).await.unwrap();
}
