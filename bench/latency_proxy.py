#!/usr/bin/env python3
"""A loopback HTTP proxy that delays every request by a fixed time and counts it.

    latency_proxy.py UPSTREAM_PORT DELAY_MS COUNT_FILE [PORT_FILE]

Listens on a free loopback port (written to PORT_FILE, or printed), and for
each HTTP/1.1 request it reads (request line, headers, Content-Length body):
appends "METHOD PATH" to COUNT_FILE, waits DELAY_MS, sends the request to
127.0.0.1:UPSTREAM_PORT on a new connection with `Connection: close`, and
relays the answer until the upstream closes; then closes the client's
connection. Every request is counted, artifacts (`/get-artifact`,
`/ajax-api/...`) included. It stands in for a network round trip to a
tracking server on another host: a fake for benchmarks, not a real proxy.
Standard library only.
"""

import asyncio
import sys


async def read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = 0
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(b":")
        low = name.strip().lower()
        if low == b"content-length":
            length = int(value.strip())
        if low in (b"connection", b"keep-alive"):
            continue
        headers.append(line)
    body = await reader.readexactly(length) if length else b""
    return lines[0], headers, body


async def serve(upstream_port, delay, count):
    async def handle(reader, writer):
        try:
            while True:
                try:
                    line, headers, body = await read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                parts = line.decode("latin-1").split(" ")
                count.write(f"{parts[0]} {parts[1] if len(parts) > 1 else ''}\n")
                count.flush()
                if delay:
                    await asyncio.sleep(delay)
                up_r, up_w = await asyncio.open_connection("127.0.0.1", upstream_port)
                up_w.write(line + b"\r\n" + b"\r\n".join(headers) + b"\r\nConnection: close\r\n\r\n" + body)
                await up_w.drain()
                while True:
                    chunk = await up_r.read(65536)
                    if not chunk:
                        break
                    writer.write(chunk)
                    await writer.drain()
                up_w.close()
                # The answer is delimited by the upstream closing: close too.
                return
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    return server


def main():
    upstream_port, delay_ms, count_file = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    port_file = sys.argv[4] if len(sys.argv) > 4 else None
    count = open(count_file, "a", buffering=1)

    async def run():
        server = await serve(upstream_port, delay_ms / 1000.0, count)
        port = server.sockets[0].getsockname()[1]
        if port_file:
            with open(port_file + ".tmp", "w") as f:
                f.write(f"{port}\n")
            import os

            os.rename(port_file + ".tmp", port_file)
        else:
            print(port, flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
