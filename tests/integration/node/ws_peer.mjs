#!/usr/bin/env node
// A third-party ws:// peer for herald's interop tests (docs/PROTOCOL.md, "ws://").
//
// Uses nothing but the npm packages `ws` and `@msgpack/msgpack` (pinned in the
// repository's package-lock.json; `npm ci` at the repository root installs
// them) and speaks the herald hub's native protocol as documented. It doubles
// as an example for users of JavaScript.
//
//   node ws_peer.mjs URL NAME CHANNEL COUNT [FROM ...]
//
// It does exactly what python/ws_peer.py does, and prints the same lines:
//   1. hello as NAME-<random hex> (profile {"lang": NAME}) →
//      "welcome <id> <max_message_bytes> <ping_interval_ms>"; join CHANNEL → "joined";
//   2. members requests until the channel has COUNT → "members <id>=<profile> ..." (sorted);
//   3. sends NAME-send to CHANNEL (echo on) with body(NAME), NAME-broadcast
//      (echo off) with broadcastBody(NAME), BURST messages NAME-burst (echo
//      off) with bodies [i, NAME] in ONE WebSocket message, then a members request;
//   4. receives until it has F-send, F-broadcast and all of F-burst for every F
//      in FROM → "got <kind> <channel or -> <event> <sender> <body>",
//      "burst <F> <count> <WebSocket messages>", "presence <event> <channel> <body>";
//      fails if its own broadcast or burst comes back (echo off);
//   5. "done", close (1000).
// Bodies are printed as canonical JSON: sorted keys, no spaces, ASCII only
// (\uXXXX), bin as {"$bin":"<hex>"}.
// Exits 0 on success; otherwise says why on stderr and exits 1.
import { randomBytes } from "node:crypto";

import { decodeMulti, encode } from "@msgpack/msgpack";
import WebSocket from "ws";

// Op codes (docs/PROTOCOL.md).
const HELLO = 1, JOIN = 2, SEND = 4, BROADCAST = 5, MEMBERS = 7;
const WELCOME = 16, REPLY = 17, ERROR = 18, MESSAGE = 19;
const BURST = 50;
const TIMEOUT_MS = 20000;

// What NAME sends to the channel: a map with a string, binary bytes and a nested array.
function body(name) {
  return {
    from: name,
    text: `h\u00e9llo \u2713 \u{1F680} from ${name}`,
    blob: Uint8Array.from({ length: 300 }, (_, i) => (i * 7 + name.length) % 256),
    nested: [1, [2, [3, name]], { k: null, n: -7 }, true, 1.5],
  };
}

function broadcastBody(name) {
  return [name, { bin: Uint8Array.from([0, 255, 128, name.length]), ok: true }, [[], {}]];
}

const quote = (s) =>
  JSON.stringify(s).replace(/[\u007f-\uffff]/g,
                            (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));

function canonical(v) {
  if (v === null || v === undefined) return "null";
  if (v instanceof Uint8Array) return `{"$bin":"${Buffer.from(v).toString("hex")}"}`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${quote(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  if (typeof v === "string") return quote(v);
  return String(v);  // numbers, booleans
}

function fail(why) {
  process.stderr.write(`ws_peer.mjs: ${why}\n`);
  process.exit(1);
}

const say = (line) => process.stdout.write(line + "\n");

// Frames in: a WebSocket message may hold several msgpack values (the hub
// coalesces what waits), so every message goes through decodeMulti.
class Frames {
  constructor(ws) {
    this.queue = [];
    this.wake = null;
    this.messages = 0;
    ws.on("message", (data, isBinary) => {
      if (!isBinary) fail(`a text message from the hub: ${data}`);
      this.messages += 1;
      try {
        for (const frame of decodeMulti(data)) this.queue.push([frame, this.messages]);
      } catch (e) {
        fail(`a message that is not msgpack values: ${e}`);
      }
      if (this.wake) this.wake();
    });
    ws.on("close", (code, reason) => {
      this.closed = `closed ${code} ${reason}`;
      if (this.wake) this.wake();
    });
  }

  // The next [frame, number of its WebSocket message].
  async next() {
    const deadline = Date.now() + TIMEOUT_MS;
    while (this.queue.length === 0) {
      if (this.closed) fail(`the hub ${this.closed}`);
      const left = deadline - Date.now();
      if (left <= 0) fail(`nothing from the hub within ${TIMEOUT_MS} ms`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => { clearTimeout(timer); resolve(); };
      });
      this.wake = null;
    }
    return this.queue.shift();
  }
}

async function run(url, name, channel, count, senders) {
  const myId = `${name}-${randomBytes(6).toString("hex")}`;
  const ws = new WebSocket(url, { maxPayload: 0 });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  }).catch((e) => fail(`cannot connect to ${url}: ${e.message}`));
  const frames = new Frames(ws);
  const send = (frame) => ws.send(encode(frame));

  const replies = new Map();
  const got = new Map();  // event -> [[frame, message number], ...]

  async function until(done) {
    while (!done()) {
      const [frame, message] = await frames.next();
      if (!Array.isArray(frame) || typeof frame[0] !== "number") fail(`not a frame: ${frame}`);
      const op = frame[0];
      if (op === REPLY) {
        replies.set(frame[1], frame);
      } else if (op === MESSAGE) {
        const [, kind, ch, event, , value] = frame;
        if (kind >= 2) say(`presence ${event} ${ch} ${canonical(value)}`);
        if (!got.has(event)) got.set(event, []);
        got.get(event).push([frame, message]);
      } else if (op === ERROR) {
        fail(`error from the hub: ${canonical(frame)}`);
      } else {
        fail(`unexpected frame ${canonical(frame)}`);
      }
    }
  }

  async function request(req, frame) {
    send(frame);
    await until(() => replies.has(req));
    const reply = replies.get(req);
    replies.delete(req);
    if (reply[2] !== 0) fail(`request ${canonical(frame)} refused: ${canonical(reply)}`);
    return reply;
  }

  // 1. hello → welcome; join.
  send([HELLO, 1, myId, randomBytes(16).toString("hex"), null, { lang: name }]);
  const [welcome] = await frames.next();
  if (welcome.length !== 5 || welcome[0] !== WELCOME || welcome[1] !== 1 || welcome[2] !== myId) {
    fail(`expected a welcome, got ${canonical(welcome)}`);
  }
  say(`welcome ${myId} ${welcome[3]} ${welcome[4]}`);
  await request(1, [JOIN, 1, channel, true]);
  say("joined");

  // 2. Wait for everyone.
  let members;
  for (let req = 101; ; ++req) {
    members = (await request(req, [MEMBERS, req, channel]))[4];
    if (members.length >= count) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  members.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  say(`members ${members.map(([id, profile]) => `${id}=${canonical(profile)}`).join(" ")}`);

  // 3. Send; the burst goes as one WebSocket message of BURST frames.
  send([SEND, channel, `${name}-send`, true, body(name)]);
  send([BROADCAST, `${name}-broadcast`, false, broadcastBody(name)]);
  const burst = [];
  for (let i = 0; i < BURST; ++i) burst.push(encode([SEND, channel, `${name}-burst`, false, [i, name]]));
  ws.send(Buffer.concat(burst));
  send([MEMBERS, 2, channel]);

  // 4. Receive. The reply to the last request comes after anything our own
  // frames produced for us (a connection's frames apply in order).
  const complete = () =>
    replies.has(2) &&
    senders.every((s) => got.has(`${s}-send`) && got.has(`${s}-broadcast`) &&
                         (got.get(`${s}-burst`) ?? []).length >= BURST);
  await until(complete);
  for (const own of [`${name}-broadcast`, `${name}-burst`]) {
    if (got.has(own)) fail(`${own} came back although echo was off`);
  }
  if ((got.get(`${name}-send`) ?? []).length !== 1) fail(`${name}-send (echo on) did not come back once`);
  for (const s of [name, ...senders]) {
    for (const suffix of ["-send", "-broadcast"]) {
      for (const [frame] of got.get(s + suffix) ?? []) {
        const [, kind, ch, event, sender, value] = frame;
        say(`got ${kind} ${ch === null ? "-" : ch} ${event} ${sender} ${canonical(value)}`);
      }
    }
  }
  for (const s of senders) {
    const frames = got.get(`${s}-burst`);
    frames.forEach(([frame], i) => {
      if (canonical(frame[5]) !== canonical([i, s]) || frame[2] !== channel) {
        fail(`${s}-burst #${i} is ${canonical(frame)}`);
      }
    });
    say(`burst ${s} ${frames.length} ${new Set(frames.map(([, message]) => message)).size}`);
  }
  say("done");
  ws.close(1000);
  await new Promise((resolve) => ws.once("close", resolve));
}

const [url, name, channel, count, ...senders] = process.argv.slice(2);
if (count === undefined) fail("usage: node ws_peer.mjs URL NAME CHANNEL COUNT [FROM ...]");
run(url, name, channel, Number(count), senders).catch((e) => fail(e.stack ?? e));
