"""TLS in front of the local DynamoDB-API server, as DynamoDB's endpoint has it.

Terminates TLS on 127.0.0.1:<port> with the benchmark's throwaway certificate and forwards the
bytes of each connection to moto over plain TCP (one upstream connection per client connection,
so the clients' keep-alive is kept). Prints `ready` once it listens; exits with its parent.
"""
import argparse
import asyncio
import os
import ssl


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:  # already closed
            pass


async def handle(client_reader, client_writer, target_port):
    try:
        up_reader, up_writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", target_port), timeout=5
        )
    except (OSError, asyncio.TimeoutError):
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))


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
