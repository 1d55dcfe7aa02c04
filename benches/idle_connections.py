"""Opens COUNT idle keep-alive TLS connections to 127.0.0.1:PORT and holds them.

Each connection completes a handshake and one HTTP/1.1 request (so the server has set up
everything a live connection needs), then stays open, idle. Prints "ready N" once N are
open, then holds them for HOLD seconds (or until killed). Used by benches/load.sh to
measure a server's memory per idle connection.

Usage: python3 benches/idle_connections.py PORT COUNT [HOLD=30]
"""

import asyncio
import ssl
import sys


async def open_one(port, ctx, gate, held):
    async with gate:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx, server_hostname="localhost"
        )
        writer.write(b"GET /.borderless/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"unexpected answer: {head[:40]!r}")
        held.append((reader, writer))


async def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    hold = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
    ctx = ssl.create_default_context()
    # Loopback benchmark against the dev certificate; nothing here is trusted.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    gate = asyncio.Semaphore(100)
    held = []
    results = await asyncio.gather(
        *(open_one(port, ctx, gate, held) for _ in range(count)), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, Exception)]
    print(f"ready {len(held)} failed {len(failed)}", flush=True)
    if failed:
        print(f"first failure: {failed[0]!r}", file=sys.stderr, flush=True)
    await asyncio.sleep(hold)


asyncio.run(main())
