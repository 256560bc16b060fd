"""The baseline: Activation Request as a user would write it in Python 3 with boto3.

Same table, keys and attributes as the Rust code (shared/src/adapters/dynamo/keys.rs, activation.rs):
an approval is one TransactWriteItems that puts the activation record if none exists
(`attribute_not_exists(pk)`) and consumes one unit of the entitlement
(`units_used = units_used + :one` if `units_used < units_granted` and not expired). The secret is
checked, the body parsed, one JSON log line written per request. The client is made at import
time (Lambda's init), as boto3's documentation recommends.
"""
import base64
import datetime
import hmac
import json
import os
import time

import boto3
import botocore.config
import botocore.exceptions

TABLE = os.environ["TABLE_NAME"]
SECRETS = [s.strip() for s in os.environ.get("WEBHOOK_SECRETS", "").split(",") if s.strip()]
dynamodb = boto3.client(
    "dynamodb",
    config=botocore.config.Config(
        connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 3}
    ),
)


def _answer(code, message=None):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"returnCode": code, "returnMessage": message}),
    }


def _authenticated(event):
    given = []
    token = (event.get("queryStringParameters") or {}).get("token")
    if token:
        given.append(token.strip())
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "authorization" and value.lower().startswith("bearer "):
            given.append(value[7:].strip())
    return any(hmac.compare_digest(g.encode(), s.encode()) for g in given for s in SECRETS)


def handler(event, context):
    started = time.monotonic()
    if not _authenticated(event):
        return {"statusCode": 401, "body": json.dumps({"error": "unauthorized"})}
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    try:
        request = json.loads(body)
        activation_id = request["activationId"]
        user = request["userToken"]
        item = request["inventoryItemId"]
        meta_tag = request.get("metaTag")
        if not all(isinstance(v, str) and v for v in (activation_id, user, item)):
            raise ValueError("a field is empty or not a string")
    except (ValueError, KeyError, TypeError) as e:
        return _answer("FAIL", f"invalid request: {e}")

    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    record = {
        "pk": {"S": f"ACTIVATION#{activation_id}"},
        "sk": {"S": "ACTIVATION"},
        "gsi1pk": {"S": f"USER#{user}"},
        "gsi1sk": {"S": f"ACTIVATION#{stamp}#{activation_id}"},
        "activation_id": {"S": activation_id},
        "user_token": {"S": user},
        "item_id": {"S": item},
        "decision": {"S": "SUCCESS"},
        "decided_at": {"S": stamp},
    }
    if meta_tag is not None:
        record["meta_tag"] = {"S": meta_tag}
    try:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": record,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": f"USER#{user}"}, "sk": {"S": f"ENT#{item}"}},
                        "UpdateExpression": "SET units_used = units_used + :one, updated_at = :now",
                        "ConditionExpression": "units_used < units_granted AND "
                        "(attribute_not_exists(expires_at) OR expires_at > :epoch)",
                        "ExpressionAttributeValues": {
                            ":one": {"N": "1"},
                            ":now": {"S": stamp},
                            ":epoch": {"N": str(int(now.timestamp()))},
                        },
                    }
                },
            ]
        )
        answer, outcome = _answer("SUCCESS"), "approved"
    except dynamodb.exceptions.TransactionCanceledException:
        answer, outcome = _answer("FAIL", "no units left for this item"), "refused"
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
        answer, outcome = _answer("FAIL", "temporarily unable to decide, please retry"), "error"
    print(
        json.dumps(
            {
                "level": "INFO",
                "message": "request",
                "request_id": context.aws_request_id,
                "activation_id": activation_id,
                "outcome": outcome,
                "latency_ms": round((time.monotonic() - started) * 1000, 3),
            }
        ),
        flush=True,
    )
    return answer
