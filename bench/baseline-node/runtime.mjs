// A minimal Lambda runtime for the Node.js baseline handler (what Lambda's Node.js runtime does,
// node: modules only), as bench/baseline/runtime.py is for the Python one.
//
// Imports handler.mjs (init), then loops: GET /invocation/next, call the handler, POST its result to
// /invocation/<id>/response (or /error). One kept-alive HTTP connection.
import http from "node:http";

const API = process.env.AWS_LAMBDA_RUNTIME_API;
if (!API) {
  process.stderr.write("AWS_LAMBDA_RUNTIME_API is not set\n");
  process.exit(1);
}
const [HOST, PORT] = API.split(":");
const PREFIX = "/2018-06-01/runtime";
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(body),
    };
    const req = http.request(
      { host: HOST, port: PORT, method, path: PREFIX + path, agent, headers },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => resolve({ res, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function context(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] ?? 0);
  return {
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function errorBody(e) {
  const error = e instanceof Error ? e : new Error(String(e));
  return JSON.stringify({
    errorMessage: error.message,
    errorType: error.name,
    stackTrace: (error.stack ?? "").split("\n").slice(1).map((line) => line.trim()),
  });
}

let handler;
try {
  ({ handler } = await import(new URL("./handler.mjs", import.meta.url)));
} catch (e) {
  // An init error: report it and stop, as Lambda's runtimes do.
  await request("POST", "/init/error", errorBody(e));
  process.exit(1);
}

for (;;) {
  const next = await request("GET", "/invocation/next");
  if (next.res.statusCode !== 200) {
    process.stderr.write(`/next answered ${next.res.statusCode}\n`);
    process.exit(1);
  }
  const event = JSON.parse(next.body);
  const ctx = context(next.res.headers);
  process.env._X_AMZN_TRACE_ID = next.res.headers["lambda-runtime-trace-id"] ?? "";
  let result;
  try {
    result = JSON.stringify(await handler(event, ctx)) ?? "null";
  } catch (e) {
    await request("POST", `/invocation/${ctx.awsRequestId}/error`, errorBody(e));
    continue;
  }
  await request("POST", `/invocation/${ctx.awsRequestId}/response`, result);
}
