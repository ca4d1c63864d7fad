#!/usr/bin/python3
"""A third-party ws:// peer for herald's interop tests (docs/PROTOCOL.md, "ws://").

Uses nothing but the `websockets` and `msgpack` packages (Debian:
python3-websockets, python3-msgpack) and speaks the herald hub's native
protocol as documented. It doubles as an example for users of Python.

    ws_peer.py URL NAME CHANNEL COUNT [FROM ...]

  1. says hello as NAME-<random hex> (profile {"lang": NAME}), prints
     "welcome <id> <max_message_bytes> <ping_interval_ms>"; joins CHANNEL and
     prints "joined";
  2. asks for the channel's members until there are COUNT, then prints
     "members <id>=<profile> ..." (sorted by id);
  3. sends, in this order: event NAME-send to CHANNEL (echo on) with
     body(NAME); event NAME-broadcast as a broadcast (echo off) with
     broadcast_body(NAME); BURST messages NAME-burst to CHANNEL (echo off),
     bodies [i, NAME], all in ONE WebSocket message; then a members request;
  4. receives until, for every name F in FROM, it has F-send, F-broadcast and
     all of F-burst; prints
       "got <kind> <channel or -> <event> <sender> <body>" for each -send and
       -broadcast (its own NAME-send included, echo being on),
       "burst <F> <count> <WebSocket messages they came in>" per burst,
       "presence <event> <channel> <body>" for presence events;
     it fails if its own broadcast or burst comes back (echo off);
  5. prints "done" and closes the connection (1000).

Bodies are printed as canonical JSON (sorted keys, no spaces, ASCII only,
bin as {"$bin": "<hex>"}), so that every language prints the same text.
Exits 0 on success; otherwise says why on stderr and exits 1.
"""

import asyncio
import json
import os
import sys

import msgpack
import websockets

# Op codes (docs/PROTOCOL.md).
HELLO, JOIN, LEAVE, SEND, BROADCAST, PROFILE, MEMBERS = 1, 2, 3, 4, 5, 6, 7
WELCOME, REPLY, ERROR, MESSAGE = 16, 17, 18, 19
KIND_BROADCAST = 1
BURST = 50
TIMEOUT_S = 20.0


def body(name):
    """What NAME sends to the channel: a map with a string, binary bytes and a nested array."""
    return {
        "from": name,
        "text": f"h\u00e9llo \u2713 \U0001F680 from {name}",
        "blob": bytes((i * 7 + len(name)) % 256 for i in range(300)),
        "nested": [1, [2, [3, name]], {"k": None, "n": -7}, True, 1.5],
    }


def broadcast_body(name):
    return [name, {"bin": bytes([0, 255, 128, len(name)]), "ok": True}, [[], {}]]


def plain(value):
    if isinstance(value, bytes):
        return {"$bin": value.hex()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def canonical(value):
    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def fail(why):
    sys.stderr.write(f"ws_peer.py: {why}\n")
    sys.stderr.flush()
    sys.exit(1)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def pack(frame):
    return msgpack.packb(frame, use_bin_type=True)


class Connection:
    """Frames in and out. A WebSocket message may hold several frames (the
    hub coalesces what waits): msgpack.Unpacker reads them all."""

    def __init__(self, ws):
        self.ws = ws
        self.messages = 0  # WebSocket messages received

    async def frames(self):
        """Yields (frame, number of the WebSocket message it came in)."""
        while True:
            data = await self.ws.recv()
            if isinstance(data, str):
                fail(f"a text message from the hub: {data!r}")
            self.messages += 1
            unpacker = msgpack.Unpacker(raw=False)
            unpacker.feed(data)
            for frame in unpacker:
                yield frame, self.messages
            if unpacker.tell() != len(data):
                fail("a WebSocket message ended in the middle of a msgpack value")


async def run(url, name, channel, count, senders):
    my_id = f"{name}-{os.urandom(6).hex()}"
    async with websockets.connect(url, max_size=None) as ws:
        conn = Connection(ws)
        frames = conn.frames()

        async def next_frame():
            try:
                return await asyncio.wait_for(frames.__anext__(), TIMEOUT_S)
            except asyncio.TimeoutError:
                fail(f"nothing from the hub within {TIMEOUT_S} s")

        # Everything received, by kind.
        replies = {}
        got = {}  # event -> list of (frame, message number)

        async def until(done):
            while not done():
                frame, message = await next_frame()
                if not isinstance(frame, list) or not frame or not isinstance(frame[0], int):
                    fail(f"not a frame: {frame!r}")
                op = frame[0]
                if op == REPLY:
                    replies[frame[1]] = frame
                elif op == MESSAGE:
                    _, kind, ch, event, sender, value = frame
                    if kind >= 2:
                        say(f"presence {event} {ch} {canonical(value)}")
                    got.setdefault(event, []).append((frame, message))
                elif op == ERROR:
                    fail(f"error from the hub: {frame!r}")
                else:
                    fail(f"unexpected frame {frame!r}")

        async def request(req, frame):
            await ws.send(pack(frame))
            await until(lambda: req in replies)
            reply = replies.pop(req)
            if reply[2] != 0:
                fail(f"request {frame!r} refused: {reply!r}")
            return reply

        # 1. hello → welcome; join.
        await ws.send(pack([HELLO, 1, my_id, os.urandom(16).hex(), None, {"lang": name}]))
        welcome, _ = await next_frame()
        if welcome[:3] != [WELCOME, 1, my_id] or len(welcome) != 5:
            fail(f"expected a welcome, got {welcome!r}")
        say(f"welcome {my_id} {welcome[3]} {welcome[4]}")
        await request(1, [JOIN, 1, channel, True])
        say("joined")

        # 2. Wait for everyone.
        req = 100
        while True:
            req += 1
            members = (await request(req, [MEMBERS, req, channel]))[4]
            if len(members) >= count:
                break
            await asyncio.sleep(0.02)
        listed = " ".join(f"{m_id}={canonical(profile)}" for m_id, profile in sorted(members))
        say(f"members {listed}")

        # 3. Send; the burst goes as one WebSocket message of BURST frames.
        await ws.send(pack([SEND, channel, f"{name}-send", True, body(name)]))
        await ws.send(pack([BROADCAST, f"{name}-broadcast", False, broadcast_body(name)]))
        await ws.send(b"".join(pack([SEND, channel, f"{name}-burst", False, [i, name]])
                               for i in range(BURST)))
        await ws.send(pack([MEMBERS, 2, channel]))

        # 4. Receive. The reply to the last request comes after anything our
        # own frames produced for us (a connection's frames apply in order).
        def complete():
            if 2 not in replies:
                return False
            for sender in senders:
                for suffix in ("-send", "-broadcast"):
                    if not got.get(sender + suffix):
                        return False
                if len(got.get(sender + "-burst", [])) < BURST:
                    return False
            return True

        await until(complete)
        for own in (f"{name}-broadcast", f"{name}-burst"):
            if own in got:
                fail(f"{own} came back although echo was off")
        if len(got.get(f"{name}-send", [])) != 1:
            fail(f"{name}-send (echo on) came back {len(got.get(name + '-send', []))} times")
        for sender in [name] + senders:
            for suffix in ("-send", "-broadcast"):
                for frame, _ in got.get(sender + suffix, []):
                    _, kind, ch, event, frame_sender, value = frame
                    shown = "-" if ch is None else ch
                    say(f"got {kind} {shown} {event} {frame_sender} {canonical(value)}")
        for sender in senders:
            burst = got[sender + "-burst"]
            for i, (frame, _) in enumerate(burst):
                if frame[5] != [i, sender] or frame[2] != channel:
                    fail(f"{sender}-burst #{i} is {frame!r}")
            say(f"burst {sender} {len(burst)} {len({message for _, message in burst})}")
        say("done")
        await ws.close()
    return 0


def main(argv):
    if len(argv) < 5:
        fail("usage: ws_peer.py URL NAME CHANNEL COUNT [FROM ...]")
    url, name, channel, count = argv[1], argv[2], argv[3], int(argv[4])
    return asyncio.run(run(url, name, channel, count, argv[5:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
