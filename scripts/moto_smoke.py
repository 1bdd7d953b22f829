#!/usr/bin/env python3
"""Smoke check for the running moto server (scripts/moto_server.py).

Talks to it over HTTP like any external client would (boto3 with endpoint_url):
DynamoDB CreateTable / PutItem / TransactWriteItems / GetItem, then a Step Functions
state machine that calls Lambda Invoke and DynamoDB PutItem, and is really executed.
Every resource it creates has a random suffix and is deleted again.

    .ferry/venv/bin/python scripts/moto_smoke.py [--endpoint http://127.0.0.1:4566]
    (or: scripts/stack smoke)
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import uuid
import zipfile

import boto3


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def check_dynamodb(endpoint: str, suffix: str) -> None:
    ddb = client("dynamodb", endpoint)
    table = f"ferry-smoke-{suffix}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"N": "1"}})
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}, "v": {"N": "2"}},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Update": {"TableName": table, "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                            "UpdateExpression": "SET v = v + :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            ]
        )
        # a failing condition must cancel the whole transaction
        try:
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": {"pk": {"S": "a"}, "sk": {"S": "3"}}}},
                    {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                                        "ConditionExpression": "v = :x",
                                        "ExpressionAttributeValues": {":x": {"N": "99"}}}},
                ]
            )
            raise AssertionError("TransactWriteItems with a false condition succeeded")
        except ddb.exceptions.TransactionCanceledException:
            pass
        item = ddb.get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "1"}}, ConsistentRead=True)["Item"]
        assert item["v"]["N"] == "2", item
        count = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": {"S": "a"}})["Count"]
        assert count == 2, count
        print("moto smoke: dynamodb CreateTable/PutItem/TransactWriteItems/GetItem/Query ok")
    finally:
        ddb.delete_table(TableName=table)


def _zip_handler() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\nexit 0\n")
    return buf.getvalue()


def check_stepfunctions(endpoint: str, suffix: str) -> None:
    iam = client("iam", endpoint)
    lam = client("lambda", endpoint)
    sfn = client("stepfunctions", endpoint)
    ddb = client("dynamodb", endpoint)
    role_arn = iam.create_role(
        RoleName=f"ferry-smoke-{suffix}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    fn = f"ferry-smoke-{suffix}"
    lam.create_function(
        FunctionName=fn, Runtime="provided.al2023", Role=role_arn, Handler="bootstrap",
        Code={"ZipFile": _zip_handler()},
    )
    table = f"ferry-smoke-sfn-{suffix}"
    ddb.create_table(
        TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    definition = {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": fn, "Payload": {"hello": "ferry"}},
                "ResultPath": "$.invoke",
                "Next": "Put",
            },
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": table, "Item": {"pk": {"S": "from-sfn"}}},
                "ResultPath": None,
                "End": True,
            },
        },
    }
    sm_arn = sfn.create_state_machine(
        name=f"ferry-smoke-{suffix}", definition=json.dumps(definition), roleArn=role_arn
    )["stateMachineArn"]
    try:
        exec_arn = sfn.start_execution(stateMachineArn=sm_arn, input=json.dumps({"x": 1}))["executionArn"]
        deadline = time.time() + 30
        while True:
            desc = sfn.describe_execution(executionArn=exec_arn)
            if desc["status"] != "RUNNING" or time.time() > deadline:
                break
            time.sleep(0.2)
        if desc["status"] != "SUCCEEDED":
            hist = sfn.get_execution_history(executionArn=exec_arn)["events"]
            raise AssertionError(f"execution {desc['status']}: {json.dumps(hist[-3:], default=str)[:2000]}")
        item = ddb.get_item(TableName=table, Key={"pk": {"S": "from-sfn"}}).get("Item")
        assert item is not None, "state machine did not write to DynamoDB"
        out = json.loads(desc["output"])
        print(f"moto smoke: stepfunctions execution SUCCEEDED (lambda:invoke -> {str(out.get('invoke', {}).get('Payload'))[:60]!r}, dynamodb:putItem) ok")
    finally:
        sfn.delete_state_machine(stateMachineArn=sm_arn)
        lam.delete_function(FunctionName=fn)
        ddb.delete_table(TableName=table)
        iam.delete_role(RoleName=f"ferry-smoke-{suffix}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566")
    args = parser.parse_args()
    suffix = uuid.uuid4().hex[:8]
    check_dynamodb(args.endpoint, suffix)
    check_stepfunctions(args.endpoint, suffix)
    print("moto smoke: all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
