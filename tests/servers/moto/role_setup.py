"""Sets up a moto server started with INITIAL_NO_AUTH_ACTION_COUNT=10, so that it checks
signatures and IAM policies from then on, the way a customer grants a SaaS platform
access to its data:
  - "admin", allowed everything (the test fills the bucket and the catalog as it);
  - "platform", onramp's own identity, allowed sts:AssumeRole and nothing else;
  - the role "onramp-reader", whose trust policy lets "platform" assume it only with the
    External ID given, and which may read S3, Glue and Athena;
  - "another-customers-role", trusting "platform" with another External ID;
  - the bucket "customer-data" with data/people.csv, put there as the admin.
Prints {"admin": [KEY, SECRET], "platform": [KEY, SECRET], "roleArn": ARN, "otherRoleArn": ARN}.
Usage: role_setup.py ENDPOINT EXTERNAL_ID"""
import json
import sys

import boto3

endpoint, external_id = sys.argv[1], sys.argv[2]
anyone = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **anyone)


def user(name, actions):
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    return arn, [key["AccessKeyId"], key["SecretAccessKey"]]


_, admin = user("admin", "*")
platform_arn, platform = user("platform", "sts:AssumeRole")
trust = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": platform_arn}, "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]}
role = iam.create_role(RoleName="onramp-reader", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
reads = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
    "s3:ListBucket", "s3:GetObject", "glue:GetDatabase", "glue:GetDatabases", "glue:GetTables",
    "athena:GetWorkGroup"]}]}
iam.put_role_policy(RoleName="onramp-reader", PolicyName="reads", PolicyDocument=json.dumps(reads))
# Another customer's role: it trusts the platform too, with that customer's External ID.
trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] = "onramp-another-organisation"
other = iam.create_role(RoleName="another-customers-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
iam.put_role_policy(RoleName="another-customers-role", PolicyName="reads", PolicyDocument=json.dumps(reads))
# From here every request is checked: the data goes in as the admin.
as_admin = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=admin[0], aws_secret_access_key=admin[1])
s3 = boto3.client("s3", **as_admin)
s3.create_bucket(Bucket="customer-data")
s3.put_object(Bucket="customer-data", Key="data/people.csv", Body=b"id,name\n1,Ann\n2,Bo\n")
print(json.dumps({"admin": admin, "platform": platform, "roleArn": role["Arn"], "otherRoleArn": other["Arn"]}))
