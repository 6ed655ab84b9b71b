"""Writes seed inputs for the binary decoders' fuzz targets (Arrow IPC, Parquet,
BSON) into fuzz/corpus/. Run once with pyarrow and pymongo installed:
    python3 -m venv /tmp/seeds && /tmp/seeds/bin/pip install pyarrow pymongo
    /tmp/seeds/bin/python fuzz/seeds.py
"""
import datetime
import io
import os

import bson
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# Snowflake sends result sets as Arrow IPC streams, numbers scaled by field metadata.
schema = pa.schema([
    pa.field("NAME", pa.string()),
    pa.field("ORDINAL", pa.int16(), metadata={"scale": "0"}),
    pa.field("PRICE", pa.int64(), metadata={"scale": "2"}),
    pa.field("OK", pa.bool_()),
])
batch = pa.record_batch([pa.array(["id", None]), pa.array([1, 2], pa.int16()),
                         pa.array([1999, -5]), pa.array([True, None])], schema=schema)
sink = io.BytesIO()
with ipc.new_stream(sink, schema) as w:
    w.write_batch(batch)
open(os.path.join(here, "arrow_ipc", "stream"), "wb").write(sink.getvalue())

# A Parquet file with nested and logical types; the target reads its tail and footer.
table = pa.table({
    "id": pa.array([1, 2], pa.int64()),
    "name": pa.array(["a", None]),
    "at": pa.array([datetime.datetime(2026, 1, 1), None], pa.timestamp("ms")),
    "tags": pa.array([["x"], []], pa.list_(pa.string())),
    "price": pa.array([1, 2], pa.decimal128(10, 2)),
})
buf = io.BytesIO()
pq.write_table(table, buf)
data = buf.getvalue()
length = int.from_bytes(data[-8:-4], "little")
open(os.path.join(here, "parquet_footer", "file"), "wb").write(data)
open(os.path.join(here, "parquet_footer", "footer"), "wb").write(data[-8 - length:-8])

# Documents as a MongoDB server sends them, nested and of mixed types.
docs = [
    {"_id": 1, "name": "ada", "age": 36, "address": {"city": "London"}, "tags": ["m"]},
    {"_id": 2, "age": "unknown", "items": [{"sku": "a", "qty": 2}], "at": datetime.datetime(2026, 1, 1)},
]
open(os.path.join(here, "bson_documents", "docs"), "wb").write(b"".join(bson.encode(d) for d in docs))
