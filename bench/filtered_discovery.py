#!/usr/bin/env python3
"""Benchmark: what a schema filter that keeps 1% of tables costs.

On the reference workload at --tables (default 20,000) in PostgreSQL and MariaDB,
times whole `onramp discover` processes, in the same run:
  full       no filter: every relation
  filtered   credentials.schemaFilters keeping 1% of the tables (t001*, t002*:
             200 of 20,000), applied in the catalog queries
  small      no filter, on a database that holds only as many tables as the filter
             keeps: what discovering that many tables costs when nothing else is there
and reports filtered / full (the goal: about 1%, plus the fixed cost of a process
and a connection) and filtered / small (how close the filter comes to a database
holding only what it keeps). Medians of --runs; one JSON line last.

    bench/filtered_discovery.py [--tables 20000] [--runs 5]
"""
import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import discovery  # noqa: E402


def kept_patterns(tables):
    """Name prefixes keeping 1% of `tables` (tNNNNN names, 100 per t00K prefix)."""
    hundreds = max(1, tables // 100 // 100)
    return [f"t{k:03d}*" for k in range(1, hundreds + 1)]


def rows(kind, base, ensure, tables, runs, workdir):
    patterns = kept_patterns(tables)
    kept = len(patterns) * 100
    big, small = ensure(tables), ensure(kept)
    out = {}
    out["full"] = discovery.onramp_discover(kind, {**base, "database": big}, runs, workdir)
    out["filtered"] = discovery.onramp_discover(
        kind, {**base, "database": big, "schemaFilters": {"tables": {"include": patterns}}}, runs, workdir)
    out["small"] = discovery.onramp_discover(kind, {**base, "database": small}, runs, workdir)
    return out, patterns, kept


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tables", type=int, default=20000)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    if not os.path.exists(discovery.ONRAMP):
        sys.exit("build it first: cargo build --release")
    result = {"tables": args.tables, "runs": args.runs}
    with tempfile.TemporaryDirectory() as workdir:
        for title, kind, base, ensure in (
            ("PostgreSQL", "postgres", {"host": "127.0.0.1", "username": "postgres", "sslMode": "disable"},
             discovery.ensure_postgres),
            ("MariaDB", "mysql", {"host": "127.0.0.1", "username": "root", "ssl": False},
             discovery.ensure_mariadb),
        ):
            r, patterns, kept = rows(kind, base, ensure, args.tables, args.runs, workdir)
            full, filtered, small = r["full"]["seconds"], r["filtered"]["seconds"], r["small"]["seconds"]
            print(f"\n{title}, {args.tables} tables, filter {patterns} keeping {kept}")
            print("| run | relations | median s | × full | peak RSS MiB |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for name, row in r.items():
                print(f"| {name} | {row['stats']['tables']} | {row['seconds']:.3f} | {row['seconds'] / full:.3f} "
                      f"| {row['peak_rss_kib'] / 1024:.1f} |")
            print(f"filtered / full = {filtered / full:.3f}; filtered / small = {filtered / small:.2f}")
            result[kind] = {name: {"seconds": round(row["seconds"], 4), "relations": row["stats"]["tables"],
                                   "peak_rss_kib": row["peak_rss_kib"]} for name, row in r.items()}
            result[kind]["filtered_over_full"] = round(filtered / full, 4)
            result[kind]["filtered_over_small"] = round(filtered / small, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
