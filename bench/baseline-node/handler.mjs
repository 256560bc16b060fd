// The Node.js baseline: Activation Request as a user would write it in Node.js 20 with the AWS SDK
// for JavaScript v3. It does what bench/baseline/handler.py does, line for line.
//
// Same table, keys and attributes as the Rust code (shared/src/adapters/dynamo/keys.rs, activation.rs):
// an approval is one TransactWriteItems that puts the activation record if none exists
// (`attribute_not_exists(pk)`) and consumes one unit of the entitlement
// (`units_used = units_used + :one` if `units_used < units_granted` and not expired). The secret is
// checked, the body parsed, one JSON log line written per request. The client is made at module
// load (Lambda's init), as the SDK's documentation recommends.
import { timingSafeEqual } from "node:crypto";
import {
  DynamoDBClient,
  TransactWriteItemsCommand,
  TransactionCanceledException,
} from "@aws-sdk/client-dynamodb";

const TABLE = process.env.TABLE_NAME;
if (TABLE === undefined) {
  throw new Error("TABLE_NAME is not set"); // as os.environ["TABLE_NAME"]: an init error
}
const SECRETS = (process.env.WEBHOOK_SECRETS ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter((s) => s)
  .map((s) => Buffer.from(s));

// Region, credentials and AWS_ENDPOINT_URL_DYNAMODB come from the environment, as for boto3.
// requestHandler: the options of the NodeHttpHandler the client makes (keep-alive is its default).
// botocore's connect_timeout=1, read_timeout=2: the SDK only warns when requestTimeout passes
// unless throwOnRequestTimeout is set.
const dynamodb = new DynamoDBClient({
  requestHandler: { connectionTimeout: 1000, requestTimeout: 2000, throwOnRequestTimeout: true },
  retryMode: "standard",
  maxAttempts: 3,
});

function answer(code, message = null) {
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ returnCode: code, returnMessage: message }),
  };
}

function authenticated(event) {
  const given = [];
  const token = (event.queryStringParameters ?? {}).token;
  if (token) {
    given.push(token.trim());
  }
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (name.toLowerCase() === "authorization" && value.toLowerCase().startsWith("bearer ")) {
      given.push(value.slice(7).trim());
    }
  }
  return given.some((g) => {
    const a = Buffer.from(g);
    // hmac.compare_digest answers false for different lengths; timingSafeEqual would throw.
    return SECRETS.some((s) => a.length === s.length && timingSafeEqual(a, s));
  });
}

function parse(body) {
  const request = JSON.parse(body);
  if (request === null || typeof request !== "object" || Array.isArray(request)) {
    throw new TypeError("the body is not a JSON object");
  }
  for (const key of ["activationId", "userToken", "inventoryItemId"]) {
    if (!(key in request)) {
      throw new TypeError(`'${key}'`); // what a KeyError says
    }
  }
  const { activationId, userToken, inventoryItemId, metaTag } = request;
  for (const v of [activationId, userToken, inventoryItemId]) {
    if (typeof v !== "string" || !v) {
      throw new TypeError("a field is empty or not a string");
    }
  }
  return { activationId, user: userToken, item: inventoryItemId, metaTag: metaTag ?? null };
}

export async function handler(event, context) {
  const started = process.hrtime.bigint();
  if (!authenticated(event)) {
    return { statusCode: 401, body: JSON.stringify({ error: "unauthorized" }) };
  }
  let body = event.body ?? "";
  if (event.isBase64Encoded) {
    body = Buffer.from(body, "base64").toString("utf8");
  }
  let request;
  try {
    request = parse(body);
  } catch (e) {
    return answer("FAIL", `invalid request: ${e.message}`);
  }
  const { activationId, user, item, metaTag } = request;

  const now = new Date();
  const stamp = now.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ, as the Python one writes it
  const record = {
    pk: { S: `ACTIVATION#${activationId}` },
    sk: { S: "ACTIVATION" },
    gsi1pk: { S: `USER#${user}` },
    gsi1sk: { S: `ACTIVATION#${stamp}#${activationId}` },
    activation_id: { S: activationId },
    user_token: { S: user },
    item_id: { S: item },
    decision: { S: "SUCCESS" },
    decided_at: { S: stamp },
  };
  if (metaTag !== null) {
    record.meta_tag = { S: metaTag };
  }
  let result, outcome;
  try {
    await dynamodb.send(
      new TransactWriteItemsCommand({
        TransactItems: [
          {
            Put: {
              TableName: TABLE,
              Item: record,
              ConditionExpression: "attribute_not_exists(pk)",
            },
          },
          {
            Update: {
              TableName: TABLE,
              Key: { pk: { S: `USER#${user}` }, sk: { S: `ENT#${item}` } },
              UpdateExpression: "SET units_used = units_used + :one, updated_at = :now",
              ConditionExpression:
                "units_used < units_granted AND " +
                "(attribute_not_exists(expires_at) OR expires_at > :epoch)",
              ExpressionAttributeValues: {
                ":one": { N: "1" },
                ":now": { S: stamp },
                ":epoch": { N: String(Math.floor(now.getTime() / 1000)) },
              },
            },
          },
        ],
      }),
    );
    [result, outcome] = [answer("SUCCESS"), "approved"];
  } catch (e) {
    if (e instanceof TransactionCanceledException) {
      [result, outcome] = [answer("FAIL", "no units left for this item"), "refused"];
    } else {
      // Service errors, timeouts and connection failures alike (botocore's ClientError and
      // BotoCoreError).
      [result, outcome] = [answer("FAIL", "temporarily unable to decide, please retry"), "error"];
    }
  }
  process.stdout.write(
    JSON.stringify({
      level: "INFO",
      message: "request",
      request_id: context.awsRequestId,
      activation_id: activationId,
      outcome,
      latency_ms: Math.round(Number(process.hrtime.bigint() - started) / 1000) / 1000,
    }) + "\n",
  );
  return result;
}
