"""TLS in front of the local DynamoDB-API server, as DynamoDB's endpoint has it.

Terminates TLS on 127.0.0.1:<port> with the benchmark's throwaway certificate and keeps each
client connection alive across requests, as DynamoDB does. moto's server (werkzeug) answers every
request with `Connection: close`, which would make every warm invocation pay a new TCP connection
and TLS handshake that it never pays against DynamoDB. So the proxy reads one HTTP/1.1 request at
a time (`Content-Length` bodies, as the SDKs send), forwards it to moto on a fresh plain-TCP
connection, and returns the answer without moto's `Connection: close`.
Prints `ready` once it listens; exits with its parent.
"""
import argparse
import asyncio
import os
import ssl


def content_length(head):
    """The `Content-Length` of a request or response head; 0 if it has none."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


async def forward(head, body, target_port):
    """One request to moto on its own connection; the whole answer, minus `Connection`."""
    up_reader, up_writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", target_port), timeout=5
    )
    try:
        up_writer.write(head + body)
        await up_writer.drain()
        answer_head = (await up_reader.readuntil(b"\r\n\r\n"))[:-4]
        if b"\r\ncontent-length:" in answer_head.lower():
            answer_body = await up_reader.readexactly(content_length(answer_head))
        else:
            answer_body = await up_reader.read()
    finally:
        # Not waiting for moto to close: werkzeug takes about 12 ms to close a connection.
        up_writer.close()
    lines = [
        line for line in answer_head.split(b"\r\n")
        if line.partition(b":")[0].strip().lower() != b"connection"
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + answer_body


async def handle(client_reader, client_writer, target_port):
    try:
        while True:
            head = await client_reader.readuntil(b"\r\n\r\n")
            body = await client_reader.readexactly(content_length(head))
            client_writer.write(await forward(head, body, target_port))
            await client_writer.drain()
            if b"\r\nconnection: close" in head.lower():
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
            ConnectionError, ssl.SSLError, OSError, ValueError):
        pass
    finally:
        try:
            client_writer.close()
        except Exception:  # already closed
            pass


async def exit_with_parent(parent):
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    os._exit(0)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args.target_port),
        "127.0.0.1",
        args.port,
        ssl=context,
        ssl_handshake_timeout=10,
        backlog=256,
    )
    watcher = asyncio.ensure_future(exit_with_parent(os.getppid()))
    print("ready", flush=True)
    async with server:
        await server.serve_forever()
    watcher.cancel()


if __name__ == "__main__":
    asyncio.run(main())
