"""A minimal Lambda runtime for the baseline handler (what awslambdaric does, stdlib only).

Imports `handler` (init), then loops: GET /invocation/next, call the handler, POST its result to
/invocation/<id>/response (or /error). One kept-alive HTTP connection, as awslambdaric keeps.
"""
import http.client
import json
import os
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
PREFIX = "/2018-06-01/runtime"


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def error_body(e):
    return json.dumps(
        {
            "errorMessage": str(e),
            "errorType": type(e).__name__,
            "stackTrace": traceback.format_tb(e.__traceback__),
        }
    ).encode()


def main():
    connection = http.client.HTTPConnection(API)

    def post(path, body):
        connection.request(
            "POST", PREFIX + path, body=body, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        response.read()

    try:
        from handler import handler
    except Exception as e:  # init error: report it and stop, as Lambda's runtimes do
        post("/init/error", error_body(e))
        sys.exit(1)

    while True:
        connection.request("GET", PREFIX + "/invocation/next")
        response = connection.getresponse()
        event = json.loads(response.read())
        if response.status != 200:
            sys.exit(f"/next answered {response.status}")
        context = Context(response.headers)
        os.environ["_X_AMZN_TRACE_ID"] = response.headers.get("Lambda-Runtime-Trace-Id", "")
        try:
            result = json.dumps(handler(event, context)).encode()
        except Exception as e:
            post(f"/invocation/{context.aws_request_id}/error", error_body(e))
            continue
        post(f"/invocation/{context.aws_request_id}/response", result)


if __name__ == "__main__":
    main()
