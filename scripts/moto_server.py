"""moto's DynamoDB-API server, as `moto_server` starts it, with requests applied one at a time.

moto's threaded server is not atomic: concurrent conditional writes can both pass, and a
cancelled TransactWriteItems restores a deep copy of the whole table, erasing writes that other
requests committed meanwhile (measured: 13 of 30 rounds of 60 concurrent transactions went
wrong). DynamoDB applies each write atomically, so this launcher serializes request handling
behind one lock while still accepting many connections at once.

It also exits when the process that started it goes away, so test runs leave nothing behind.
"""
import argparse
import os
import threading
import time

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


class GlobalLockMiddleware:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            result = self.app(environ, start_response)
            try:
                body = list(result)  # fully consume the response iterable under the lock
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return body


def exit_with_parent():
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)))
    parser.add_argument("--exit-with-parent", action="store_true")
    args = parser.parse_args()
    if "MOTO_PORT" not in os.environ:
        os.environ["MOTO_PORT"] = f"{args.port}"

    if args.exit_with_parent:
        threading.Thread(target=exit_with_parent, daemon=True).start()

    main_app = DomainDispatcherApplication(create_backend_app)
    main_app.debug = True  # same as moto/server.py

    run_simple(
        args.host,
        args.port,
        GlobalLockMiddleware(main_app),
        threaded=True,
        request_handler=MotoRequestHandler,  # same as moto/server.py
    )


if __name__ == "__main__":
    main()
