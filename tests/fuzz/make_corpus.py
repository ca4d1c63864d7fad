#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/):
valid frames, control messages, bodies, tokens, URLs and upgrade requests, a
few of them slightly wrong. Run again after changing it; the files are
committed. Self-contained (its own small msgpack encoder): no module needed."""
import base64, hashlib, hmac, os, struct, sys

class Raw(bytes):
    """Bytes written in place (a body or profile: one msgpack value already)."""

def pack(v):
    if isinstance(v, Raw): return bytes(v)
    if v is None: return b"\xc0"
    if v is True: return b"\xc3"
    if v is False: return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128: return bytes([v])
        if -32 <= v < 0: return struct.pack("b", v)
        if 0 <= v < 2**8: return b"\xcc" + struct.pack(">B", v)
        if 0 <= v < 2**16: return b"\xcd" + struct.pack(">H", v)
        if 0 <= v < 2**32: return b"\xce" + struct.pack(">I", v)
        if v >= 0: return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float): return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32: return bytes([0xa0 | len(b)]) + b
        if len(b) < 256: return b"\xd9" + bytes([len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(v, bytes):
        if len(v) < 256: return b"\xc4" + bytes([len(v)]) + v
        return b"\xc5" + struct.pack(">H", len(v)) + v
    if isinstance(v, (list, tuple)):
        head = bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdc" + struct.pack(">H", len(v))
        return head + b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        head = bytes([0x80 | len(v)]) if len(v) < 16 else b"\xde" + struct.pack(">H", len(v))
        return head + b"".join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError(v)

BODIES = [None, 42, -7, 2**40, 1.5, "hi", "héllo", b"\x00\x01bin", [1, "two", [3.0]],
          {"text": "hello", "n": 3}, {1: "int key"}, Raw(b"\xd4\x01\x02"),  # fixext 1
          Raw(b"\x91" * 20 + b"\xc0"), Raw(b"\xdd\xff\xff\xff\xff")]  # deep; count past input

def b64url(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def token(payload, secret=b"secret"):
    head = b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + b64url(payload)
    return head + "." + b64url(hmac.new(secret, head.encode(), hashlib.sha256).digest())

def ws_frames():
    rid, resume = "alice-1", "r" * 16
    hello = pack([1, 1, rid, resume, None, Raw(pack({"name": "alice"}))])
    out = {
        "hello": hello,
        "hello_token": pack([1, 1, rid, resume, token(b'{"sub":"a","exp":4102444800}'), None]),
        "hello_v2": pack([1, 2, rid, resume, None, None]),
        "join": pack([2, 1, "room", True]), "leave": pack([3, 2, "room", False]),
        "profile": pack([6, 3, True, Raw(pack({"mood": "ok"}))]), "members": pack([7, 4, "room"]),
        "welcome": pack([16, 1, rid, 1 << 20, 15000]),
        "reply": pack([17, 1, 0, ""]), "reply_error": pack([17, 1, 8, "too many channels"]),
        "reply_members": pack([17, 4, 0, "", [["alice-1", {"name": "a"}], ["bob", None]]]),
        "error": pack([18, 3, "send: event must be a str"]),
        "message_broadcast": pack([19, 1, None, "news", "bob", Raw(pack("hi"))]),
        "message_join": pack([19, 2, "room", "channel:join", "bob", None]),
        "coalesced": pack([2, 5, "a", False]) + pack([4, "a", "e", False, Raw(pack(1))]) +
                     pack([5, "b", True, Raw(pack([1, 2]))]),
        "truncated": hello[:-3], "unknown_op": pack([99, 1]), "trailing": pack([3, 2, "room", False, 1]),
    }
    for i, body in enumerate(BODIES):
        out[f"send_{i}"] = pack([4, "room", "chat", i % 2 == 0, Raw(pack(body))])
        out[f"message_{i}"] = pack([19, 0, "room", "chat", "bob", Raw(pack(body))])
    return out

def zmq_data():
    out = {}
    def data(name, topic, header, body):
        out[name] = topic + pack(header) + pack(body)
    for i, body in enumerate(BODIES):
        data(f"message_{i}", b"croom\xff", [2, 0, "room", "chat", "bob", False, i], body)
    data("broadcast", b"b\xff", [2, 1, None, "news", "bob", True, 7], "hi")
    data("join", b"croom\xff", [2, 2, "room", "channel:join", "bob", False, 1], {"name": "b"})
    data("probe", b"pbob.1\xff", [2, 5, None, "probe", "bob", False, 0], None)
    data("topic_mismatch", b"cother\xff", [2, 0, "room", "chat", "bob", False, 1], 1)
    data("version_1", b"croom\xff", [1, 0, "room", "chat", "bob", False, 1], 1)
    out["no_topic"] = b"c" * 300 + pack([2, 0, "room", "chat", "bob", False, 1])
    out["hold_notice"] = b"h\xff" + pack(["croom", "b", "cnews"])
    out["hold_notice_empty"] = b"h\xff" + pack([])
    out["hold_notice_bad_topic"] = b"h\xff" + pack(["xroom"])
    return out

def zmq_control():
    prof = Raw(pack({"name": "bob"}))
    msgs = {
        "hello": ["hello", 2, "bob-1", "s" * 16, ["room", "news"]], "hello_v1": ["hello", 1],
        "join": ["join", 1, "room", True, prof], "join_no_profile": ["join", 2, "room", False],
        "leave": ["leave", 3, "room", False], "profile": ["profile", 4, prof, True],
        "members": ["members", 5, "room"], "stats": ["stats", 6], "ping": ["ping"], "bye": ["bye"],
        "welcome": ["welcome", 2, 1 << 20, 5556, 5557, 10000],
        "welcome_stall": ["welcome", 2, 1 << 20, 5556, 5557, 10000, 10000], "stalled": ["stalled"],
        "refused": ["refused", "bad token", 16], "refused_old": ["refused", "no"],
        "ok": ["ok", 1], "error": ["error", 2, "join: channel must be a str", 3],
        "error_code_99": ["error", 2, "odd", 99], "unknown_session": ["unknown-session", 3],
        "members_reply": ["members", 5, [["bob-1", {"name": "bob"}], ["eve", None]]],
        "stats_reply": ["stats", 6, {"sessions": 1, "channels": 2, "messages_in": 3, "messages_out": 4}],
        "pong": ["pong"], "unknown": ["launch", 1],
    }
    out = {k: pack(v) for k, v in msgs.items()}
    # The control-message bomb of issue 9 item 2: nested array32 headers claiming 10 M items.
    out["array32_bomb"] = b"\x92\xa4join" + b"\xdd\x00\x98\x96\x80" * 64
    return out

def msgpack_values():
    out = {f"body_{i}": pack(b) for i, b in enumerate(BODIES)}
    out.update({
        "map16": pack({f"k{i}": i for i in range(20)}), "str16": pack("x" * 300),
        "bin16": pack(b"y" * 300), "float32": b"\xca\x3f\xc0\x00\x00", "nan": b"\xcb\x7f\xf8" + b"\x00" * 6,
        "ext8": b"\xc7\x03\x05abc", "timestamp": b"\xd6\xff\x00\x00\x00\x01",
        "two_values": pack(1) + pack(2), "reserved_c1": b"\xc1", "invalid_utf8": b"\xa2\xff\xfe",
        "nested_257": b"\x91" * 257 + b"\xc0", "map_int_keys": pack({1: 2, -3: [4]}),
        # as<double>() of it is 2^64, which msgpack-c 4.1 cannot pack without undefined behaviour.
        "uint64_max": b"\xcf" + b"\xff" * 8,
        # Map keys within map keys, 40 deep: to_json quoted each level again (exponential).
        "keys_within_keys": b"\x81" * 40 + b"\xc0" * 41,
    })
    return out

def tokens():
    far = b'{"sub":"leia","exp":4102444800}'
    t = token(far)
    out = {"valid": t, "valid_nbf": token(b'{"sub":"han","exp":4102444800,"nbf":1}'),
           "junk_appended": t + "=junk", "padded": t + "=", "no_exp": token(b'{"sub":"leia"}'),
           "expired": token(b'{"sub":"old","exp":1}'), "exp_string": token(b'{"sub":"x","exp":"soon"}'),
           "alg_none": b64url(b'{"alg":"none"}') + "." + b64url(far) + ".",
           "wrong_secret": token(far, b"other"), "not_jwt": "not-a-jwt"}
    # Mode byte (session_token_fuzzer.cc): 0 a token, 1 a payload to sign, 2 secret + subject.
    seeds = {k: b"\x00" + v.encode() for k, v in out.items()}
    seeds.update({"sign_far": b"\x01" + far, "sign_sub_number": b"\x01" + b'{"sub":7,"exp":4102444800}',
                  "sign_array": b"\x01[1,2]", "mint": b"\x02\x06secretluke", "mint_bad_utf8": b"\x02\x01k\xff\xfe"})
    return seeds

def urls():
    return {f"url_{i}": u for i, u in enumerate([
        "mem://", "mem://room", "zmq://127.0.0.1:5555", "ws://localhost:8080", "ws://[::1]:9000",
        "ws://[::1]", "wss://example.org:443/", "ws://host:99999", "ws://host:", "zmq://:5555",
        "MEM://x", "ws://a/b/c?d", "no-scheme", "://x", "ws://host:-0"])}

def upgrades():
    key = base64.b64encode(b"0123456789abcdef").decode()
    ok = ("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
    return {"upgrade": ok, "upgrade_query": ok.replace("GET / ", "GET /?x=1 "),
            "upgrade_with_hello": ok.encode() + b"\x82\x05hello",
            "wrong_path": ok.replace("GET / ", "GET /chat "), "plain_get": "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "http10": ok.replace("HTTP/1.1", "HTTP/1.0"), "post_body": "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            "chunked": "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "short_key": ok.replace(key, "c2hvcnQ="), "folded": ok.replace("Connection: Upgrade", "Connection: keep-alive,\r\n Upgrade")}

def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    frames = ws_frames()
    targets = {"ws_frame_splitter": frames, "ws_frame_parser": frames, "zmq_data": zmq_data(),
               "zmq_control": zmq_control(), "msgpack": msgpack_values(), "session_token": tokens(),
               "url": urls(), "http_upgrade": upgrades()}
    for target, seeds in targets.items():
        d = os.path.join(root, target)
        os.makedirs(d, exist_ok=True)  # keeps the inputs of findings added by hand
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
    print(f"make_corpus: {sum(len(s) for s in targets.values())} seeds in {root}", file=sys.stderr)

main()
