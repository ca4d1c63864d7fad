#!/usr/bin/python3
"""A third-party zmq:// peer for herald's interop tests (docs/PROTOCOL.md, "zmq://").

Uses nothing but pyzmq and msgpack (Debian: python3-zmq, python3-msgpack) and
speaks the wire format as documented: it never says hello on the control
socket, it only publishes to P+1 and subscribes at P+2.

    zmq_peer.py PORT CHANNEL [MODE [MAX_BODY_BYTES]]

MODE "exchange" (default):
  1. connects PUB to P+1 and SUB to P+2, subscribes to the channel topic and
     to its own probe topic, publishes probes every 5 ms until one comes back,
     unsubscribes the probe topic, prints "ready <socket id>";
  2. sends event "py-event" to CHANNEL (echo true, seq 1), body
     {"text": PY_TEXT, "blob": bytes(range(256))};
  3. waits for event "cpp-event" on CHANNEL and prints
     "header <kind> <channel> <echo> <seq>" and then
     "got <event> <sender> <hex of body["blob"]> <body["text"]>".
MODE "malformed": like "exchange", but before step 2 it sends "py-before"
  (body nil, seq 1), then a series of malformed data messages on the
  channel's topic (headers with seq 5), and prints "sent-malformed <count>"
  (one frame each: forwarded, for receivers to drop) and "sent-multipart
  <count>" (more than one frame: the broker drops them); "py-event" then has
  seq 2. With MAX_BODY_BYTES (the broker's limit), one of
  them is a well-formed body one byte over that limit.

Exits 0 on success; on a timeout or anything unexpected it says why on
stderr and exits 1. Every wait is bounded.
"""

import base64
import os
import sys
import time

import msgpack
import zmq

PROBE_INTERVAL_S = 0.005
TIMEOUT_S = 8.0
PY_TEXT = "hello from python \u2713"
VERSION = 2
KIND_MESSAGE = 0
KIND_PROBE = 5
# The seq in malformed headers: were a receiver to track it before dropping
# the message, the valid seq 2 after it would not look like the next one.
BAD_SEQ = 5


def fail(why):
    sys.stderr.write(f"zmq_peer.py: {why}\n")
    sys.stderr.flush()
    sys.exit(1)


def say(line):
    """One line on stdout, UTF-8 whatever the locale, flushed at once."""
    sys.stdout.buffer.write(line.encode("utf-8") + b"\n")
    sys.stdout.buffer.flush()


def channel_topic(channel):
    return b"c" + channel.encode("utf-8") + b"\xff"


def probe_topic(socket_id, n):
    return b"p" + socket_id.encode("ascii") + b":" + str(n).encode("ascii") + b"\xff"


def header(kind, channel, event, sender, echo, seq):
    return msgpack.packb([VERSION, kind, channel, event, sender, echo, seq], use_bin_type=True)


class Peer:
    def __init__(self, port, channel):
        self.channel = channel
        self.topic = channel_topic(channel)
        # A socket id like herald's: 20 characters of base64url.
        self.socket_id = base64.urlsafe_b64encode(os.urandom(15)).decode("ascii")
        self.ctx = zmq.Context()
        self.pub = self.ctx.socket(zmq.PUB)
        self.sub = self.ctx.socket(zmq.SUB)
        for s in (self.pub, self.sub):
            s.setsockopt(zmq.LINGER, 2000)
        self.pub.connect(f"tcp://127.0.0.1:{port + 1}")
        self.sub.connect(f"tcp://127.0.0.1:{port + 2}")
        self.seq = 0
        self.early = []  # data messages that arrived while probing

    def close(self):
        self.pub.close()
        self.sub.close()
        self.ctx.term()

    def probe(self):
        """Subscribes, then probes until the path through the broker works."""
        probe = probe_topic(self.socket_id, 1)
        self.sub.setsockopt(zmq.SUBSCRIBE, self.topic)
        self.sub.setsockopt(zmq.SUBSCRIBE, probe)
        probe_message = probe + header(KIND_PROBE, None, "probe", self.socket_id, False, 0) + b"\xc0"
        deadline = time.monotonic() + TIMEOUT_S
        next_probe = 0.0
        while True:
            now = time.monotonic()
            if now > deadline:
                fail(f"no probe came back within {TIMEOUT_S} s")
            if now >= next_probe:
                self.pub.send(probe_message)
                next_probe = now + PROBE_INTERVAL_S
            if self.sub.poll(int(PROBE_INTERVAL_S * 1000)):
                frames = self.sub.recv_multipart()
                if frames[0].startswith(probe):
                    break
                self.early.append(frames)
        self.sub.setsockopt(zmq.UNSUBSCRIBE, probe)

    def send(self, event, body_bytes, echo=True):
        self.seq += 1
        self.pub.send(self.topic
                      + header(KIND_MESSAGE, self.channel, event, self.socket_id, echo, self.seq)
                      + body_bytes)

    def parse(self, frames):
        """(kind, channel, event, sender, echo, seq, body) of a well-formed data
        message on our channel; ValueError saying what is wrong otherwise."""
        if len(frames) != 1:
            raise ValueError(f"{len(frames)} frames (expected 1)")
        # The topic (up to the first 0xFF), the header and the body.
        end = frames[0].find(b"\xff")
        if end < 0:
            raise ValueError("no topic")
        topic, raw = frames[0][:end + 1], frames[0][end + 1:]
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(raw)
        try:
            h = unpacker.unpack()
        except Exception as e:  # noqa: BLE001 - whatever msgpack raises
            raise ValueError(f"no msgpack header: {e!r} ({raw.hex()})")
        raw_body = raw[unpacker.tell():]
        if not isinstance(h, list) or len(h) != 7 or h[0] != VERSION:
            raise ValueError(f"header is not [2, kind, channel, event, sender, echo, seq]: {h!r}")
        _, kind, channel, event, sender, echo, seq = h
        if (not isinstance(kind, int) or not 0 <= kind <= 4 or not isinstance(event, str)
                or not event or not isinstance(sender, str) or not sender
                or not isinstance(echo, bool) or not isinstance(seq, int) or seq < 0):
            raise ValueError(f"header fields have the wrong types: {h!r}")
        if topic != self.topic or channel != self.channel:
            raise ValueError(f"topic {topic!r} / header channel {channel!r} "
                             f"do not match {self.channel!r}")
        try:
            body = msgpack.unpackb(raw_body, raw=False)
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"body of {event!r} is not one msgpack value: {e!r}")
        return kind, channel, event, sender, echo, seq, body

    def receive(self, event, skip_malformed):
        """The first well-formed message of `event` on our channel, as
        (kind, channel, event, sender, echo, seq, body). A malformed message
        is fatal unless `skip_malformed` (then it must be one of ours)."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            if self.early:
                frames = self.early.pop(0)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    fail(f"no {event!r} on {self.channel!r} within {TIMEOUT_S} s")
                if not self.sub.poll(max(1, int(left * 1000))):
                    continue
                frames = self.sub.recv_multipart()
            if frames[0].startswith(b"p"):
                continue  # a late copy of one of our probes
            try:
                message = self.parse(frames)
            except ValueError as e:
                if skip_malformed:
                    continue  # our own malformed messages coming back
                fail(f"malformed data message: {e}")
            if message[2] == event:
                return message
            # otherwise: our own echo, presence events, ...

    def send_malformed(self, max_body_bytes):
        """Data messages every receiver must drop (and count), all on our
        channel's topic, and messages of more than one frame, which the broker
        drops; returns how many of each were sent."""
        t, ch, me = self.topic, self.channel, self.socket_id
        good = header(KIND_MESSAGE, ch, "bad", me, True, BAD_SEQ)
        nil = b"\xc0"
        not_utf8_event = (b"\x97\x02\x00" + msgpack.packb(ch) + b"\xa1\xff" + msgpack.packb(me)
                          + b"\xc3" + msgpack.packb(BAD_SEQ))
        multipart = [
            # frame count other than 1 (version 1 sent the topic as a frame of its own)
            [t, good + nil],
            [t, good + nil, nil],
            [t + good, nil],
        ]
        messages = [
            t,                                                               # no header
            # a header that is not exactly [2, kind, channel, event, sender, echo, seq]
            t + b"\xc1" + nil,                                               # not msgpack
            t + good[:-1],                                                   # truncated
            t + msgpack.packb({"v": 2}) + nil,                               # a map
            t + msgpack.packb([2, 0, ch, "bad", me, True]) + nil,            # 6 fields
            t + msgpack.packb([2, 0, ch, 42, me, "yes", -1]) + nil,          # wrong types
            t + msgpack.packb([1, 0, ch, "bad", me, True, BAD_SEQ]) + nil,   # version 1
            t + msgpack.packb([2, 9, ch, "bad", me, True, BAD_SEQ]) + nil,   # kind 9
            # invalid names, a topic that disagrees with the header
            t + header(KIND_MESSAGE, ch, "", me, True, BAD_SEQ) + nil,       # empty event
            t + not_utf8_event + nil,                                        # event b"\xff"
            t + header(KIND_MESSAGE, ch, "bad", "", True, BAD_SEQ) + nil,    # empty sender
            t + header(KIND_MESSAGE, "other", "bad", me, True, BAD_SEQ) + nil,
            t + header(1, None, "bad", me, True, BAD_SEQ) + nil,             # broadcast on t
            t + header(KIND_PROBE, None, "probe", me, False, 0) + nil,       # probe on t
            # a body that is not exactly one well-formed msgpack value
            t + good,
            t + good + b"\xc1",
            t + good + b"\xc0\xc0",
            t + good + b"\x92\x01",
            t + good + b"\xa5abc",
        ]
        if max_body_bytes is not None:
            # A well-formed bin one byte over the broker's limit (bin 32: 5-byte head).
            n = max_body_bytes + 1 - 5
            messages.append(t + good + b"\xc6" + n.to_bytes(4, "big") + bytes(n))
        for frames in multipart:
            self.pub.send_multipart(frames)
        for message in messages:
            self.pub.send(message)
        return len(messages), len(multipart)


def main(argv):
    if len(argv) not in (3, 4, 5):
        fail("usage: zmq_peer.py PORT CHANNEL [exchange|malformed [MAX_BODY_BYTES]]")
    port = int(argv[1])
    channel = argv[2]
    mode = argv[3] if len(argv) > 3 else "exchange"
    max_body_bytes = int(argv[4]) if len(argv) > 4 else None
    if mode not in ("exchange", "malformed"):
        fail(f"unknown mode {mode!r}")

    peer = Peer(port, channel)
    try:
        peer.probe()
        say(f"ready {peer.socket_id}")

        if mode == "malformed":
            peer.send("py-before", b"\xc0", echo=True)  # seq 1
            malformed, multipart = peer.send_malformed(max_body_bytes)
            say(f"sent-malformed {malformed}")
            say(f"sent-multipart {multipart}")

        body = msgpack.packb({"text": PY_TEXT, "blob": bytes(range(256))}, use_bin_type=True)
        peer.send("py-event", body, echo=True)

        kind, ch, event, sender, echo, seq, body = peer.receive(
            "cpp-event", skip_malformed=(mode == "malformed"))
        if not isinstance(body, dict):
            fail(f"cpp-event body is not a map: {body!r}")
        blob, text = body.get("blob"), body.get("text")
        if not isinstance(blob, bytes) or not isinstance(text, str):
            fail(f"cpp-event body needs a bin 'blob' and a str 'text': {body!r}")
        say(f"header {kind} {ch} {'true' if echo else 'false'} {seq}")
        say(f"got {event} {sender} {blob.hex()} {text}")
    finally:
        peer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
