// ws_fanout_server.mjs — the Node peer of herald_ws_bench (bench/ws_bench.cc).
//
// A plain npm `ws` server doing fan-out the way its README shows it ("Server
// broadcast", the variant that excludes the sender): every binary message a
// client sends goes to every other open client, one client.send() each. No
// batching, no tuning: the peer as users write it. Defaults of `ws` 8.18.3
// (perMessageDeflate off on servers; Nagle off on every socket).
//
//   node bench/node/ws_fanout_server.mjs    # prints "listening ws://127.0.0.1:PORT"
//
// Loopback only, port picked by the OS. SIGTERM / SIGINT stop it.
import WebSocket, { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });

wss.on('connection', function connection(ws) {
  ws.on('error', console.error);

  ws.on('message', function message(data, isBinary) {
    wss.clients.forEach(function each(client) {
      if (client !== ws && client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    });
  });
});

wss.on('listening', () => {
  // The first stdout line, read by the benchmark (same form as `herald hub`).
  console.log(`listening ws://127.0.0.1:${wss.address().port}`);
});
wss.on('error', (err) => {
  console.error(`ws_fanout_server: ${err.message}`);
  process.exit(1);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    for (const client of wss.clients) client.terminate();
    wss.close(() => process.exit(0));
  });
}
