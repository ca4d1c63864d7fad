# A TCP relay on loopback that records every byte it carries, for tests that
# check what travels in clear text. Usage: tcp_relay.py TARGET_PORT COUNT FILE
# — listens on COUNT consecutive free ports Q.. (Q+i relays to TARGET_PORT+i),
# prints "relay Q" once listening, and appends both directions to FILE.
import asyncio, socket, sys

target, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
log = open(path, "ab", buffering=0)


def consecutive_free_ports(n):
    for _ in range(200):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); base = s.getsockname()[1]; s.close()
        socks = []
        try:
            for i in range(n):
                t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind(("127.0.0.1", base + i)); socks.append(t)
            return base, socks
        except OSError:
            for t in socks: t.close()
    raise SystemExit("no free ports")


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            log.write(data); writer.write(data); await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def handler(i):
    async def handle(reader, writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target + i)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
    return handle


async def main():
    base, socks = consecutive_free_ports(count)
    for i, s in enumerate(socks):
        s.listen(); await asyncio.start_server(handler(i), sock=s)
    print(f"relay {base}", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
