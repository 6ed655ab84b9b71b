"""Sets up a moto server started with INITIAL_NO_AUTH_ACTION_COUNT=4, so that it checks
signatures from then on: a user with an access key allowed everything, and a bucket.
Prints {"accessKeyId", "secretAccessKey"} as JSON. Usage: auth_setup.py ENDPOINT BUCKET"""
import json
import sys

import boto3

endpoint, bucket = sys.argv[1], sys.argv[2]
anyone = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **anyone)
iam.create_user(UserName="onramp")
key = iam.create_access_key(UserName="onramp")["AccessKey"]
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
iam.put_user_policy(UserName="onramp", PolicyName="s3", PolicyDocument=json.dumps(policy))
boto3.client("s3", **anyone).create_bucket(Bucket=bucket)
print(json.dumps({"accessKeyId": key["AccessKeyId"], "secretAccessKey": key["SecretAccessKey"]}))
