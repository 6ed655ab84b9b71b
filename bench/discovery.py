#!/usr/bin/env python3
"""Benchmark 1: schema discovery of a wide database.

Builds the reference workload (bench/workload.py) in PostgreSQL, MariaDB and
ClickHouse, then times, in the same run and on the same data, whole processes of:
  onramp    `onramp discover`, snapshot written to a file
  floor     the database's own client running set-based catalog queries that return
            at least the facts onramp reports (psql, mariadb, curl to ClickHouse's HTTP)
  peers     tap-postgres (MeltanoLabs) and tap-mysql (PipelineWise) `--discover`, and
            SQLAlchemy 2 `MetaData.reflect`, each from its own virtualenv
It prints a table and, last, one JSON line. Medians of --runs runs; peak RSS of
onramp against the size of the snapshot it wrote. `--scale 20000` also runs onramp
and the floors on 20,000 tables and reports how the cost grows.

    bench/discovery.py [--tables 2000] [--runs 5] [--scale 20000] [--no-peers]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import workload  # noqa: E402

ONRAMP = os.path.join(ROOT, "target", "release", "onramp")
CLICKHOUSE = "http://127.0.0.1:18123/"
VENVS = "/var/lib/onramp-bench-"
PEERS = {
    "tap-postgres": ["meltanolabs-tap-postgres"],
    "tap-mysql": ["pipelinewise-tap-mysql"],
    "sqlalchemy": ["sqlalchemy==2.*", "psycopg2-binary", "pymysql"],
}

# The floor's queries: the same catalog facts onramp reads, without its schema filter.
PG_FLOOR = """
SELECT c.oid, n.nspname, c.relname, c.relkind::text, d.description, c.reltuples::float8
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%';
SELECT a.attrelid, a.attname, a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod), t.typname, t.typcategory,
       a.attnotnull, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), d.description
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_description d ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY a.attrelid, a.attnum;
SELECT con.conrelid, con.contype, con.conkey, rn.nspname, rc.relname,
       ARRAY(SELECT ra.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
             JOIN pg_catalog.pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.num ORDER BY k.ord)
FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype IN ('p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY con.conrelid, con.conname;
"""

MY_FLOOR = """
SELECT TABLE_NAME, TABLE_TYPE, TABLE_COMMENT, TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE();
SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT
  FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE();
SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, ORDINAL_POSITION, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME,
  REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE();
"""

SQLALCHEMY = """
import sys
from sqlalchemy import MetaData, create_engine, inspect
engine = create_engine(sys.argv[1])
skip = {"information_schema", "pg_catalog", "pg_toast", "public", "mysql", "performance_schema", "sys"}
schemas = [s for s in inspect(engine).get_schema_names() if s not in skip and not s.startswith("pg_")]
if sys.argv[2:]:
    schemas = sys.argv[2:]
tables = 0
for schema in schemas:
    meta = MetaData()
    meta.reflect(bind=engine, schema=schema, views=True)
    tables += len(meta.tables)
print(tables, file=sys.stderr)
"""


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def psql(db, sql, *extra):
    return run(["psql", "-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", *extra],
               input=sql, text=True, capture_output=True).stdout


def mariadb(sql, db=None):
    cmd = ["mariadb", "-uroot", "-N"] + ([db] if db else [])
    return run(cmd, input=sql, text=True, capture_output=True).stdout


def clickhouse(sql):
    with urllib.request.urlopen(urllib.request.Request(CLICKHOUSE, data=sql.encode()), timeout=120) as r:
        return r.read().decode()


def ensure_postgres(tables):
    db = f"bench_wide_{tables}"
    exists = psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{db}'", "-At").strip()
    if exists:
        count = psql(db, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE n.nspname LIKE 'app\\_%' AND c.relkind IN ('r', 'v')", "-At").strip()
        if count == str(tables + tables // 10):
            return db
        psql("postgres", f"DROP DATABASE {db} WITH (FORCE)")
    log(f"building {tables} tables in PostgreSQL database {db}")
    psql("postgres", f"CREATE DATABASE {db}")
    psql(db, "\n".join(workload.statements("postgres", tables)))
    psql(db, "ANALYZE")
    return db


def ensure_mariadb(tables):
    db = f"bench_wide_{tables}"
    count = mariadb(f"SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}'").strip()
    if count == str(tables + tables // 10):
        return db
    log(f"building {tables} tables in MariaDB database {db}")
    mariadb(f"DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}")
    mariadb("\n".join(workload.statements("mysql", tables)), db)
    return db


def ensure_clickhouse(tables):
    db = f"bench_wide_ch_{tables}"
    count = clickhouse(f"SELECT count() FROM system.tables WHERE database = '{db}'").strip()
    if count == str(tables):
        return db
    log(f"building {tables} tables in ClickHouse database {db}")
    clickhouse(f"DROP DATABASE IF EXISTS {db}")
    for statement in workload.statements("clickhouse", tables, db):
        clickhouse(statement)
    return db


def ensure_peer(name):
    venv = VENVS + name
    if not os.path.exists(os.path.join(venv, "bin", "python")):
        log(f"installing {name} into {venv}")
        run([sys.executable, "-m", "venv", venv])
    marker = os.path.join(venv, ".installed")
    if not os.path.exists(marker):
        run([os.path.join(venv, "bin", "pip"), "install", "-q", *PEERS[name]])
        open(marker, "w").close()
    return os.path.join(venv, "bin")


def measure(cmd, runs, stdin_text=None, stdout_path=os.devnull):
    """Median wall seconds and the largest peak RSS (KiB) of `runs` whole processes."""
    walls, peaks = [], []
    for _ in range(runs):
        with tempfile.NamedTemporaryFile("r", suffix=".time") as t, open(stdout_path, "w") as out:
            started = time.perf_counter()
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name, *cmd], input=stdin_text, text=True,
                           stdout=out, stderr=subprocess.DEVNULL, check=True)
            walls.append(time.perf_counter() - started)
            peaks.append(int(t.read().strip().splitlines()[-1]))
    return statistics.median(walls), max(peaks)


def onramp_discover(kind, credentials, runs, workdir):
    creds = os.path.join(workdir, f"{kind}.json")
    out = os.path.join(workdir, f"{kind}-snapshot.json")
    with open(creds, "w") as f:
        json.dump(credentials, f)
    wall, peak = measure([ONRAMP, "discover", "--type", kind, "--credentials", creds, "--output", out], runs)
    with open(out) as f:
        stats = json.load(f)["stats"]
    return {"seconds": wall, "peak_rss_kib": peak, "snapshot_bytes": os.path.getsize(out), "stats": stats}


def postgres_rows(tables, runs, peers, workdir):
    db = ensure_postgres(tables)
    rows = {"onramp": onramp_discover("postgres", {"host": "127.0.0.1", "username": "postgres", "database": db,
                                                   "sslMode": "disable"}, runs, workdir)}
    rows["floor (psql)"] = dict(zip(("seconds", "peak_rss_kib"), measure(
        ["psql", "-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-o", "/dev/null"], runs, PG_FLOOR)))
    if peers:
        bin_dir = ensure_peer("tap-postgres")
        config = os.path.join(workdir, "tap-postgres.json")
        with open(config, "w") as f:
            json.dump({"host": "127.0.0.1", "port": 5432, "user": "postgres", "password": "", "database": db}, f)
        rows["tap-postgres"] = dict(zip(("seconds", "peak_rss_kib"), measure(
            [os.path.join(bin_dir, "tap-postgres"), "--config", config, "--discover"], runs)))
        sa = ensure_peer("sqlalchemy")
        rows["sqlalchemy reflect"] = dict(zip(("seconds", "peak_rss_kib"), measure(
            [os.path.join(sa, "python"), "-c", SQLALCHEMY, f"postgresql+psycopg2://postgres@127.0.0.1/{db}"], runs)))
    return rows


def mariadb_rows(tables, runs, peers, workdir):
    db = ensure_mariadb(tables)
    rows = {"onramp": onramp_discover("mysql", {"host": "127.0.0.1", "username": "root", "database": db,
                                                "ssl": False}, runs, workdir)}
    rows["floor (mariadb)"] = dict(zip(("seconds", "peak_rss_kib"), measure(
        ["mariadb", "-uroot", "-h", "127.0.0.1", db], runs, MY_FLOOR)))
    if peers:
        bin_dir = ensure_peer("tap-mysql")
        config = os.path.join(workdir, "tap-mysql.json")
        with open(config, "w") as f:
            json.dump({"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "filter_dbs": db}, f)
        rows["tap-mysql"] = dict(zip(("seconds", "peak_rss_kib"), measure(
            [os.path.join(bin_dir, "tap-mysql"), "--config", config, "--discover"], runs)))
        sa = ensure_peer("sqlalchemy")
        rows["sqlalchemy reflect"] = dict(zip(("seconds", "peak_rss_kib"), measure(
            [os.path.join(sa, "python"), "-c", SQLALCHEMY, f"mysql+pymysql://root@127.0.0.1/{db}", db], runs)))
    return rows


def clickhouse_rows(tables, runs, workdir):
    db = ensure_clickhouse(tables)
    rows = {"onramp": onramp_discover("clickhouse", {"host": "127.0.0.1", "port": 18123, "database": db},
                                      runs, workdir)}
    floor = os.path.join(workdir, "ch-floor.sh")
    with open(floor, "w") as f:
        for sql in (f"SELECT name, engine, sorting_key, primary_key, partition_key FROM system.tables WHERE database = '{db}'",
                    f"SELECT table, name, type, default_kind, default_expression, comment FROM system.columns WHERE database = '{db}'"):
            f.write(f"curl -sf {CLICKHOUSE} --data-binary \"{sql}\" > /dev/null\n")
    rows["floor (curl)"] = dict(zip(("seconds", "peak_rss_kib"), measure(["sh", floor], runs)))
    return rows


def report(title, rows, floor_name):
    floor = rows[floor_name]["seconds"]
    print(f"\n{title}")
    print(f"  {'system':<22}{'median s':>10}{'× floor':>9}{'peak RSS MiB':>14}")
    for name, r in rows.items():
        r["x_floor"] = round(r["seconds"] / floor, 2)
        print(f"  {name:<22}{r['seconds']:>10.3f}{r['x_floor']:>9.2f}{r['peak_rss_kib'] / 1024:>14.1f}")
    o = rows["onramp"]
    o["memory_x_snapshot"] = round(o["peak_rss_kib"] * 1024 / o["snapshot_bytes"], 2)
    print(f"  onramp snapshot {o['snapshot_bytes'] / 1e6:.2f} MB, {o['stats']['tables']} relations, "
          f"{o['stats']['columns']} columns; peak RSS {o['memory_x_snapshot']}× the snapshot")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", type=int, default=2000)
    p.add_argument("--clickhouse-tables", type=int, default=500)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--scale", type=int, default=0, help="also run onramp and the floors on this many tables")
    p.add_argument("--no-peers", action="store_true")
    a = p.parse_args()
    # ClickHouse (and the other local servers) as the tests have them; GNU time for peak RSS.
    run([os.path.join(ROOT, "scripts", "test-servers.sh")], stdout=subprocess.DEVNULL)
    if not os.path.exists("/usr/bin/time"):
        run(["apt-get", "install", "-y", "-qq", "time"], stdout=subprocess.DEVNULL)
    log("building onramp (release)")
    run(["cargo", "build", "--release", "-q", "--bin", "onramp"], cwd=ROOT)
    result = {"benchmark": "discovery", "tables": a.tables, "runs": a.runs}
    with tempfile.TemporaryDirectory() as workdir:
        result["postgres"] = postgres_rows(a.tables, a.runs, not a.no_peers, workdir)
        report(f"PostgreSQL, {a.tables} tables", result["postgres"], "floor (psql)")
        result["mariadb"] = mariadb_rows(a.tables, a.runs, not a.no_peers, workdir)
        report(f"MariaDB, {a.tables} tables", result["mariadb"], "floor (mariadb)")
        result["clickhouse"] = clickhouse_rows(a.clickhouse_tables, a.runs, workdir)
        report(f"ClickHouse, {a.clickhouse_tables} tables", result["clickhouse"], "floor (curl)")
        if a.scale:
            growth = {}
            for name, rows_of, floor in (("postgres", postgres_rows, "floor (psql)"), ("mariadb", mariadb_rows, "floor (mariadb)")):
                big = rows_of(a.scale, a.runs, False, workdir)
                report(f"{name}, {a.scale} tables", big, floor)
                small = result[name]
                factor = a.scale / a.tables
                growth[name] = {
                    "onramp_seconds": big["onramp"]["seconds"],
                    "floor_seconds": big[floor]["seconds"],
                    "x_floor": big["onramp"]["x_floor"],
                    "memory_x_snapshot": big["onramp"]["memory_x_snapshot"],
                    # 1.0 is linear: the time per table at scale over the time per table at --tables.
                    "onramp_cost_per_table_ratio": round(big["onramp"]["seconds"] / small["onramp"]["seconds"] / factor, 2),
                    "floor_cost_per_table_ratio": round(big[floor]["seconds"] / small[floor]["seconds"] / factor, 2),
                }
                print(f"  {name}: ×{factor:.0f} tables -> onramp cost per table ×{growth[name]['onramp_cost_per_table_ratio']}, "
                      f"floor ×{growth[name]['floor_cost_per_table_ratio']} (1.0 = linear)")
            result["scale"] = {"tables": a.scale, **growth}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
