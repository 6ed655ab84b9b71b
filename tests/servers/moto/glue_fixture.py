"""Creates an Athena workgroup and a Glue database with tables in a moto server, the way
a data team would have them: an external table with partition keys, a nested one and a
view. Usage: glue_fixture.py ENDPOINT DATABASE WORKGROUP [KEY SECRET]"""
import sys

import boto3

endpoint, database, workgroup = sys.argv[1:4]
key, secret = (sys.argv[4:6] + ["fixture", "fixture"])[:2] if len(sys.argv) < 6 else sys.argv[4:6]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret)
boto3.client("athena", **kw).create_work_group(
    Name=workgroup,
    Configuration={"ResultConfiguration": {"OutputLocation": f"s3://results/{workgroup}/"}},
)
glue = boto3.client("glue", **kw)
glue.create_database(DatabaseInput={"Name": database, "Description": "test data"})


def table(name, columns, partitions=(), kind="EXTERNAL_TABLE", description=""):
    glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": name,
            "Description": description,
            "TableType": kind,
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": t, **({"Comment": c} if c else {})} for n, t, c in columns],
                "Location": f"s3://lake/{database}/{name}/",
            },
            "PartitionKeys": [{"Name": n, "Type": t} for n, t in partitions],
        },
    )


table("clicks", [("id", "bigint", "click id"), ("url", "string", None), ("amount", "decimal(12,2)", None)],
      partitions=[("day", "date")], description="web clicks")
table("nested", [("payload", "struct<a:int,b:string>", None), ("tags", "array<string>", None)])
table("recent", [("id", "bigint", None)], kind="VIRTUAL_VIEW")
