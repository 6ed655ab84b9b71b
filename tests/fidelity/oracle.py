"""Compares an onramp snapshot with SQLAlchemy 2's Inspector, the reference reflection.

    oracle.py URL SNAPSHOT.json SCHEMA...

URL is a SQLAlchemy URL (postgresql+psycopg2://... or mysql+pymysql://...); each SCHEMA
is reflected (a MySQL database is a schema here). Prints one JSON object: how many
relations and columns were compared, and every mismatch as a readable line.

What the Inspector says is normalised only where it, not the server, adds a quirk:
  - PostgreSQL: for a serial column it writes the schema into the sequence's name
    (nextval('"public".t_id_seq'::regclass)), which pg_get_expr leaves out while the
    schema is on the search path.
  - MySQL: it appends the column's ON UPDATE clause to its default.
  - MySQL views: it rebuilds their columns from DESCRIBE and reads the Null column's
    "NO" as true, so every view column comes out nullable and empty-string defaults
    vanish; for views the server's own DESCRIBE is the reference for those two.
Partitions (PostgreSQL) are listed by the Inspector as tables; onramp folds them into
their parent, so the reference folds them too, and checks the parent names them.
"""

import json
import re
import sys

import sqlalchemy as sa
from sqlalchemy import types as st
from sqlalchemy.dialects import mysql, postgresql


def family(t):
    """The onramp type family of a reflected SQLAlchemy type."""
    if isinstance(t, postgresql.DOMAIN):
        return family(t.data_type)
    if isinstance(t, mysql.TINYINT) and getattr(t, "display_width", None) == 1:
        return "boolean"  # MySQL's BOOLEAN is stored as tinyint(1)
    if isinstance(t, mysql.BIT) and getattr(t, "length", None) == 1:
        return "boolean"
    if isinstance(t, mysql.YEAR):
        return "integer"
    checks = [
        (st.ARRAY, "array"),
        (st.Boolean, "boolean"),
        (st.Integer, "integer"),
        (st.Float, "float"),
        (st.Numeric, "decimal"),
        (st.Enum, "string"),
        (st.String, "string"),
        (st.DateTime, "timestamp"),
        (st.Date, "date"),
        (st.Time, "time"),
        (st.JSON, "json"),
        (st._Binary, "binary"),
        (st.Uuid, "uuid"),
    ]
    for cls, name in checks:
        if isinstance(t, cls):
            return name
    return "other"


def normal_default(text):
    if text is None:
        return None
    text = re.sub(r" ON UPDATE .*$", "", text)
    text = re.sub(r"nextval\('\"[^\"]+\"\.", "nextval('", text)
    return text


def reference(engine, schemas):
    insp = sa.inspect(engine)
    partitions = {}  # (schema, parent) -> sorted partition names
    folded = set()
    if engine.dialect.name == "postgresql":
        with engine.connect() as c:
            rows = c.execute(sa.text(
                "WITH RECURSIVE tree(root, child) AS ("
                " SELECT i.inhparent, i.inhrelid FROM pg_inherits i"
                " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relkind = 'p' AND NOT p.relispartition"
                " UNION ALL SELECT t.root, i.inhrelid FROM tree t JOIN pg_inherits i ON i.inhparent = t.child)"
                " SELECT pn.nspname, p.relname, cn.nspname, c.relname, c.relkind FROM tree t"
                " JOIN pg_class p ON p.oid = t.root JOIN pg_namespace pn ON pn.oid = p.relnamespace"
                " JOIN pg_class c ON c.oid = t.child JOIN pg_namespace cn ON cn.oid = c.relnamespace"))
            for ps, pname, cs, cname, ckind in rows:
                folded.add((cs, cname))
                if ckind != "p":
                    label = cname if cs == ps else f"{cs}.{cname}"
                    partitions.setdefault((ps, pname), []).append(label)
    relations = {}
    for schema in schemas:
        kinds = [(n, "table") for n in insp.get_table_names(schema=schema)]
        kinds += [(n, "view") for n in insp.get_view_names(schema=schema)]
        if engine.dialect.name == "postgresql":
            kinds += [(n, "materialized_view") for n in insp.get_materialized_view_names(schema=schema)]
            kinds += [(n, "external") for n in insp.get_foreign_table_names(schema=schema)]
        for name, kind in kinds:
            if (schema, name) in folded:
                continue
            columns = []
            described = {}
            if engine.dialect.name == "mysql" and kind == "view":
                with engine.connect() as c:
                    q = f"DESCRIBE `{schema}`.`{name}`"
                    for row in c.exec_driver_sql(q):
                        described[row[0]] = (row[2] == "YES", row[4])
            for col in insp.get_columns(name, schema=schema):
                nullable, default = col["nullable"], normal_default(col.get("default"))
                if col["name"] in described:
                    nullable, server_default = described[col["name"]]
                    default = None if server_default in (None, "NULL") else server_default
                columns.append({
                    "name": col["name"],
                    "type": family(col["type"]),
                    "nullable": bool(nullable),
                    "default": default,
                    "comment": col.get("comment") or None,
                })
            pk, fks, comment = [], [], None
            if kind == "table":
                pk = insp.get_pk_constraint(name, schema=schema).get("constrained_columns") or []
                for fk in insp.get_foreign_keys(name, schema=schema):
                    fks.append([fk["constrained_columns"], fk.get("referred_schema") or schema,
                                fk["referred_table"], fk["referred_columns"]])
            try:
                comment = insp.get_table_comment(name, schema=schema).get("text") or None
            except NotImplementedError:
                pass
            relations[(schema, name)] = {
                "kind": kind, "columns": columns, "primaryKey": pk,
                "foreignKeys": sorted(fks), "comment": comment,
                "partitions": sorted(partitions.get((schema, name), [])),
            }
    return relations


def unquoted(text):
    """Both sides' defaults, compared without one level of literal quotes."""
    if text is not None and len(text) >= 2 and text[0] == text[-1] == "'" and "'" not in text[1:-1]:
        return text[1:-1]
    return text


def compare(expected, snapshot):
    seen = {}
    for db in snapshot["databases"]:
        for schema in db["schemas"]:
            for t in schema["tables"]:
                seen[(schema["name"], t["name"])] = t
    problems, columns = [], 0
    for key in sorted(set(expected) | set(seen)):
        where = ".".join(key)
        if key not in seen:
            problems.append(f"{where}: missing from the snapshot")
            continue
        if key not in expected:
            problems.append(f"{where}: in the snapshot, not in the reference")
            continue
        want, got = expected[key], seen[key]
        if want["kind"] != got["kind"]:
            problems.append(f"{where}: kind {got['kind']}, reference {want['kind']}")
        names = [c["name"] for c in got["columns"]]
        want_names = [c["name"] for c in want["columns"]]
        if names != want_names:
            problems.append(f"{where}: columns {names}, reference {want_names}")
        for w, g in zip(want["columns"], got["columns"]):
            if w["name"] != g["name"]:
                break
            columns += 1
            at = f"{where}.{w['name']}"
            if w["type"] != g["type"]:
                problems.append(f"{at}: type {g['type']} ({g['nativeType']}), reference {w['type']}")
            if w["nullable"] != g["nullable"]:
                problems.append(f"{at}: nullable {g['nullable']}, reference {w['nullable']}")
            if unquoted(w["default"]) != unquoted(g.get("default")):
                problems.append(f"{at}: default {g.get('default')!r}, reference {w['default']!r}")
            if w["comment"] != g.get("comment"):
                problems.append(f"{at}: comment {g.get('comment')!r}, reference {w['comment']!r}")
        if want["primaryKey"] != got["primaryKey"]:
            problems.append(f"{where}: primary key {got['primaryKey']}, reference {want['primaryKey']}")
        got_fks = sorted([fk["columns"], fk["references"]["schema"], fk["references"]["table"],
                          fk["references"]["columns"]] for fk in got["foreignKeys"])
        if want["foreignKeys"] != got_fks:
            problems.append(f"{where}: foreign keys {got_fks}, reference {want['foreignKeys']}")
        if want["comment"] != got.get("comment"):
            problems.append(f"{where}: comment {got.get('comment')!r}, reference {want['comment']!r}")
        if want["partitions"] != sorted(got.get("partitions", [])):
            problems.append(f"{where}: partitions {got.get('partitions', [])}, reference {want['partitions']}")
    return {"relations": len(expected), "columns": columns, "mismatches": problems}


def main():
    url, snapshot_path, schemas = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(snapshot_path, encoding="utf-8") as f:
        snapshot = json.load(f)
    engine = sa.create_engine(url)
    print(json.dumps(compare(reference(engine, schemas), snapshot), indent=1))


if __name__ == "__main__":
    main()
