#!/usr/bin/env python3
"""The reference discovery workload (../shared/fixtures/wide_schema.py describes it):
N tables of 16 columns (an id primary key and 15 typed columns, NOT NULL with a
default for the integer ones), spread over 4 schemas in PostgreSQL, each table after
the first with a foreign key to the one before, a comment on each table and a view
per 10 tables. ClickHouse gets MergeTree tables without keys, views or comments.

    bench/workload.py postgres 2000     # SQL on stdout, one statement per line, no transaction
    bench/workload.py mysql 2000
    bench/workload.py clickhouse 500 --database bench_wide_ch

Deterministic for the same arguments. Loading 20,000 tables in one transaction would
exceed PostgreSQL's lock table, so the statements stand alone.
"""
import argparse

# One cycle of column types per dialect; column c of table t takes (t + c) mod 12.
CYCLE = {
    "postgres": "integer bigint text varchar(64) numeric(12,2) boolean timestamptz date jsonb uuid "
                "double_precision bytea".split(),
    "mysql": "int bigint text varchar(64) decimal(12,2) tinyint(1) datetime date json char(36) double blob".split(),
    "clickhouse": "Int32 Int64 String String Decimal(12,2) UInt8 DateTime Date String UUID Float64 String".split(),
}
COLUMNS = 14  # typed columns: with id (and parent_id after the first table) 16
SCHEMAS = 4


def column_type(dialect, table, column):
    ty = CYCLE[dialect][(table + column) % len(CYCLE[dialect])]
    return ty.replace("_", " ")


def column_name(dialect, column, ty):
    if dialect == "clickhouse":
        return f"c{column:03d}"
    return f"c{column:03d}_{ty.split('(')[0].replace(' ', '_')}"


def typed_columns(dialect, table):
    for column in range(1, COLUMNS + 1):
        ty = column_type(dialect, table, column)
        integer = ty in ("integer", "bigint", "int")
        suffix = " NOT NULL DEFAULT 0" if integer and dialect != "clickhouse" else ""
        yield f"{column_name(dialect, column, ty)} {ty}{suffix}"


def postgres(tables):
    for s in range(SCHEMAS):
        yield f"CREATE SCHEMA IF NOT EXISTS app_{s};"
    qualified = lambda t: f"app_{t % SCHEMAS}.t{t:05d}"
    for t in range(tables):
        parts = ["id bigserial PRIMARY KEY", *typed_columns("postgres", t)]
        if t:
            parts.append(f"parent_id bigint REFERENCES {qualified(t - 1)}(id)")
        yield f"CREATE TABLE {qualified(t)} ({', '.join(parts)});"
        yield f"COMMENT ON TABLE {qualified(t)} IS 'fixture table {t}';"
        if t % 10 == 9:
            yield f"CREATE VIEW app_{t % SCHEMAS}.v{t:05d} AS SELECT id FROM {qualified(t)};"


def mysql(tables):
    yield "SET FOREIGN_KEY_CHECKS=0;"
    for t in range(tables):
        parts = ["id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY", *typed_columns("mysql", t)]
        if t:
            parts += ["parent_id bigint", f"FOREIGN KEY (parent_id) REFERENCES t{t - 1:05d}(id)"]
        yield f"CREATE TABLE t{t:05d} ({', '.join(parts)}) COMMENT='fixture table {t}';"
        if t % 10 == 9:
            yield f"CREATE VIEW v{t:05d} AS SELECT id FROM t{t:05d};"
    yield "SET FOREIGN_KEY_CHECKS=1;"


def clickhouse(tables, database):
    yield f"CREATE DATABASE IF NOT EXISTS {database}"
    for t in range(tables):
        parts = ["id UInt64", *typed_columns("clickhouse", t)]
        yield f"CREATE TABLE {database}.t{t:05d} ({', '.join(parts)}) ENGINE = MergeTree() ORDER BY id"


def statements(dialect, tables, database="bench_wide_ch"):
    if dialect == "postgres":
        return postgres(tables)
    if dialect == "mysql":
        return mysql(tables)
    return clickhouse(tables, database)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dialect", choices=sorted(CYCLE))
    p.add_argument("tables", type=int)
    p.add_argument("--database", default="bench_wide_ch")
    a = p.parse_args()
    for statement in statements(a.dialect, a.tables, a.database):
        print(statement)
