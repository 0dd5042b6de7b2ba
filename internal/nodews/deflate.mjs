// Node's ws against a running Starling server with permessage-deflate,
// driven by nodews_test.go: node deflate.mjs ws://HOST:PORT/ws
//
// Three clients: a subscriber and a publisher that offer permessage-deflate
// as ws does by default (and compress every message, threshold 0), and a
// subscriber asking for a server window the server cannot honour
// (server_max_window_bits=10), which must be served uncompressed. The
// publisher sends a 1 KiB JSON message and a small one; every subscriber
// must get both intact. One JSON line of results goes to stdout for the
// Go test to check; any failure exits 1.
import WebSocket from 'ws';

const url = process.argv[2];
const timer = setTimeout(() => fail('timed out after 20 s'), 20000);

function fail(why) {
  console.error('deflate.mjs: ' + why);
  process.exit(1);
}

// open connects with the given perMessageDeflate options and queues
// every message it receives (parsed as JSON) for next; ext is the
// Sec-WebSocket-Extensions header of the server's 101.
function open(opts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: opts });
    ws.queue = [];
    ws.waiting = null;
    ws.on('upgrade', (res) => { ws.ext = res.headers['sec-websocket-extensions'] || ''; });
    ws.on('message', (data) => {
      let m;
      try {
        m = JSON.parse(data.toString());
      } catch (e) {
        fail('not JSON: ' + data.toString().slice(0, 80));
      }
      if (ws.waiting) {
        const w = ws.waiting;
        ws.waiting = null;
        w(m);
      } else {
        ws.queue.push(m);
      }
    });
    ws.on('close', (code) => { if (!ws.done) fail('closed with ' + code); });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

// next resolves with the next JSON message a client received.
function next(ws) {
  if (ws.queue.length > 0) return Promise.resolve(ws.queue.shift());
  return new Promise((resolve) => { ws.waiting = resolve; });
}

const words = 'the a to and of you it is that in for on this have be with are not just so lol ok thanks deploy build release fixed bug review merge'.split(' ');
let seed = 7;
function rnd(n) {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
}
const big = [];
while (JSON.stringify(big).length < 1024) {
  const text = Array.from({ length: 4 + rnd(12) }, () => words[rnd(words.length)]).join(' ');
  big.push({ id: 'm' + big.length, user: { id: 1000 + rnd(9000), name: 'user_' + rnd(100) }, text, ts: 1718000000000 + rnd(100000) });
}

try {
  const sub = await open({ threshold: 0 });
  const narrow = await open({ threshold: 0, serverMaxWindowBits: 10 });
  const pub = await open({ threshold: 0 });
  const subRead0 = () => sub._socket.bytesRead;
  for (const [ws, id] of [[sub, 1], [narrow, 2]]) {
    ws.send(JSON.stringify({ op: 'sub', ch: 'node', id }));
    const ack = await next(ws);
    if (ack.op !== 'ack' || ack.id !== id) fail('sub ack: ' + JSON.stringify(ack));
  }
  const before = { sub: subRead0(), narrow: narrow._socket.bytesRead };
  pub.send(JSON.stringify({ op: 'pub', ch: 'node', id: 9, data: big }));
  const ack = await next(pub);
  if (ack.op !== 'ack' || ack.id !== 9 || ack.off !== 1) fail('pub ack: ' + JSON.stringify(ack));
  const got = { sub: await next(sub), narrow: await next(narrow) };
  const wire = { sub: subRead0() - before.sub, narrow: narrow._socket.bytesRead - before.narrow };
  for (const k of ['sub', 'narrow']) {
    const m = got[k];
    if (m.op !== 'msg' || m.ch !== 'node' || m.off !== 1 || JSON.stringify(m.data) !== JSON.stringify(big)) {
      fail(k + ' got ' + JSON.stringify(m).slice(0, 200));
    }
  }
  pub.send(JSON.stringify({ op: 'pub', ch: 'node', data: 'small' }));
  for (const [k, ws] of [['sub', sub], ['narrow', narrow]]) {
    const m = await next(ws);
    if (m.op !== 'msg' || m.off !== 2 || m.data !== 'small') fail(k + ' small: ' + JSON.stringify(m));
  }
  console.log(JSON.stringify({
    extensions: { sub: sub.ext, narrow: narrow.ext, pub: pub.ext },
    data: JSON.stringify(big).length,
    wire,
  }));
  for (const ws of [sub, narrow, pub]) {
    ws.done = true;
    ws.close(1000);
  }
  clearTimeout(timer);
} catch (e) {
  fail(e.stack || String(e));
}
