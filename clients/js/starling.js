// starling.js: the browser client for Starling (one ES module, no
// dependencies). It keeps one logical connection: it reconnects by itself
// with exponential backoff and full jitter, resubscribes every channel with
// `since` = the last offset and epoch it delivered (the server replays what
// was missed), drops duplicates, pings when the line is silent, follows the
// browser's online/offline events, and gets and refreshes its token through
// `getToken` and the `auth` op. Wire protocol: docs/protocol.md; policy:
// docs/clients.md.

export const DEFAULTS = Object.freeze({
  backoffBase: 500, // ms: ceiling of the first reconnect's wait
  backoffMax: 20000, // ms: largest ceiling
  stableAfter: 5000, // ms up before the backoff starts again from its first step
  pingInterval: 25000, // ms of silence before a ping op (less up to a quarter, drawn each time)
  pongTimeout: 10000, // ms after a ping without any frame: reconnect
  authTimeout: 10000, // ms for the auth op's ack
  refreshBefore: 30000, // ms before the token's exp to refresh it (at most a tenth of its remaining life)
  maxQueued: 1000, // publishes waiting for a connection
});

/** min(max, base * 2^attempt). */
export function backoffCeiling(attempt, base = DEFAULTS.backoffBase, max = DEFAULTS.backoffMax) {
  let c = base;
  for (let i = 0; i < attempt && c < max; i++) c *= 2;
  return Math.min(c, max);
}

/**
 * The wait before reconnect attempt `attempt` (0-based): uniform in
 * [0, backoffCeiling(attempt)] ("full jitter"), so that clients dropped
 * together do not come back together.
 */
export function backoffDelay(attempt, base = DEFAULTS.backoffBase, max = DEFAULTS.backoffMax, random = Math.random) {
  return Math.floor(random() * (backoffCeiling(attempt, base, max) + 1));
}

/** The exp claim of a JWT in ms since the epoch, or null (not verified: the client cannot, and only needs the time). */
export function tokenExp(token) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)));
    return typeof claims.exp === 'number' && claims.exp > 0 ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}

/** An err reply from the server, or a client-side failure with a string code. */
export class StarlingError extends Error {
  constructor(code, message, channel) {
    super(message);
    this.name = 'StarlingError';
    this.code = code;
    if (channel !== undefined) this.channel = channel;
  }
}

const CHANNEL = /^[A-Za-z0-9_.:@/=-]{1,128}$/;

/** Connect to url (ws:// or wss://); the client connects in the background. */
export function connect(url, options = {}) {
  return new StarlingClient(url, options);
}

export class StarlingClient {
  constructor(url, options = {}) {
    if (!/^wss?:\/\//.test(url)) throw new TypeError(`starling: url must start with ws:// or wss://, got ${url}`);
    const enc = options.encoding ?? 'json';
    if (enc !== 'json') throw new TypeError(`starling: encoding ${enc} is not supported (json only)`);
    this.url = url;
    this.opts = { ...DEFAULTS, ...options };
    this._WS = options.WebSocket ?? globalThis.WebSocket;
    this._random = options.random ?? Math.random;
    this._listeners = new Map();
    this._subs = new Map(); // channel -> sub record
    this._pending = new Map(); // id -> {kind, resolve, reject, sub, resumed}
    this._queue = []; // publishes waiting for a connection
    this._nextId = 1;
    this._token = options.token ?? null;
    this._ws = null;
    this._ready = false;
    this._attempt = 0;
    this._refused = false; // the token in use was fetched because of a 4401
    this._timers = {};
    this._gen = 0; // connection generation: callbacks of an old socket do nothing
    this.state = 'disconnected';
    this._onOnline = () => this._online();
    this._onOffline = () => this._offline();
    if (typeof globalThis.addEventListener === 'function') {
      globalThis.addEventListener('online', this._onOnline);
      globalThis.addEventListener('offline', this._onOffline);
    }
    this._offlineNow = globalThis.navigator?.onLine === false;
    queueMicrotask(() => (this._offlineNow ? this._setState('disconnected') : this._open(0)));
  }

  /** Listen to an event; returns a function that removes the listener. */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    this._listeners.get(type)?.delete(fn);
  }

  /**
   * Subscribe to channel: onMessage({channel, offset, data}) gets its
   * publications in offset order, each once, across reconnects. Returns a
   * handle: {channel, ready (a promise of the first ack), position(),
   * unsubscribe()}.
   */
  subscribe(channel, onMessage) {
    if (!CHANNEL.test(channel)) throw new StarlingError('bad_channel', `starling: invalid channel name ${channel}`);
    if (this._subs.has(channel)) throw new StarlingError('subscribed', `starling: ${channel} is already subscribed`);
    if (this.state === 'closed') throw new StarlingError('closed', 'starling: client closed');
    const sub = { channel, onMessage, last: null, epoch: null, dups: 0, closed: false };
    sub.ready = new Promise((resolve, reject) => {
      sub.resolve = resolve;
      sub.reject = reject;
    });
    sub.ready.catch(() => {}); // a rejection nobody awaits is not an unhandled one
    this._subs.set(channel, sub);
    if (this._ready) this._sendSub(sub);
    return {
      channel,
      ready: sub.ready,
      position: () => ({ offset: sub.last, epoch: sub.epoch }),
      duplicates: () => sub.dups,
      unsubscribe: () => this._unsubscribe(sub),
    };
  }

  /** Publish data (any JSON value) on channel; resolves to its offset. */
  publish(channel, data) {
    if (!CHANNEL.test(channel)) return Promise.reject(new StarlingError('bad_channel', `starling: invalid channel name ${channel}`));
    if (this.state === 'closed') return Promise.reject(new StarlingError('closed', 'starling: client closed'));
    return new Promise((resolve, reject) => {
      const p = { channel, data, resolve, reject };
      if (this._ready) return this._sendPub(p);
      if (this._queue.length >= this.opts.maxQueued) {
        return reject(new StarlingError('queue_full', 'starling: too many publishes waiting for a connection'));
      }
      this._queue.push(p);
    });
  }

  /** Stop for good: close the connection (1000) and never reconnect. */
  close() {
    this._stop(1000, 'client closed', null);
  }

  // ---- connection lifetime ----

  async _open(delay) {
    if (this.state === 'closed') return;
    const gen = ++this._gen;
    this._setState('connecting');
    this._emit('connecting', { attempt: this._attempt, delay });
    let token = this._token;
    if (!token && this.opts.getToken) {
      try {
        token = await this.opts.getToken();
        this._token = token;
      } catch (e) {
        if (gen !== this._gen) return;
        this._emit('error', { error: new StarlingError('token', `starling: getToken: ${e?.message ?? e}`) });
        return this._retry();
      }
      if (gen !== this._gen || this.state === 'closed') return;
    }
    let ws;
    try {
      ws = new this._WS(this.url);
    } catch (e) {
      this._emit('error', { error: e });
      return this._retry();
    }
    this._ws = ws;
    this._openedAt = Date.now();
    ws.onopen = () => {
      if (gen !== this._gen) return;
      this._touch();
      if (!token) return this._up(gen);
      this._request({ op: 'auth', token }, 'auth').then(
        () => {
          if (gen !== this._gen) return;
          this._emit('authenticated', {});
          this._up(gen);
        },
        () => {},
      );
      this._timers.auth = setTimeout(() => gen === this._gen && this._drop(1006, 'auth not acknowledged'), this.opts.authTimeout);
    };
    ws.onmessage = (ev) => gen === this._gen && this._message(ev.data);
    ws.onerror = () => gen === this._gen && this._emit('error', { error: new StarlingError('socket', 'starling: WebSocket error') });
    ws.onclose = (ev) => gen === this._gen && this._closed(ev.code, ev.reason);
  }

  // _up: the connection is usable (authenticated when there is a token).
  _up(gen) {
    clearTimeout(this._timers.auth);
    this._ready = true;
    this._setState('connected');
    this._emit('connected', {});
    for (const sub of this._subs.values()) this._sendSub(sub);
    const queued = this._queue.splice(0);
    for (const p of queued) this._sendPub(p);
    this._schedulePing();
    this._scheduleRefresh(gen);
  }

  // _drop abandons the current socket at once (a dead line may not deliver
  // a close for minutes) and handles it as closed with code.
  _drop(code, reason) {
    const ws = this._ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try {
        ws.close(1000, reason.slice(0, 100));
      } catch {
        /* already closing */
      }
    }
    this._closed(code, reason);
  }

  _closed(code, reason) {
    this._gen++;
    this._ws = null;
    this._ready = false;
    for (const k of ['auth', 'ping', 'pong', 'refresh']) clearTimeout(this._timers[k]);
    for (const [id, p] of this._pending) {
      this._pending.delete(id);
      if (p.kind !== 'sub') p.reject(new StarlingError('conn_lost', 'starling: connection lost before the reply (the publish may or may not have happened)'));
    }
    if (this.state === 'closed') return;
    const stable = Date.now() - (this._openedAt ?? Date.now()) >= this.opts.stableAfter;
    if (stable) {
      this._attempt = 0;
      this._refused = false;
    }
    this._setState('disconnected');
    this._emit('disconnected', { code, reason });
    if (code === 4403) return this._stop(code, reason, new StarlingError(4403, `starling: disconnected by the server: ${reason}`));
    if (code === 4401) {
      if (!this.opts.getToken || this._refused) {
        return this._stop(code, reason, new StarlingError(4401, `starling: token refused: ${reason}`));
      }
      this._refused = true;
      this._token = null; // the next attempt fetches a fresh one
    }
    if (this._offlineNow) return; // 'online' reconnects
    this._retry();
  }

  _retry() {
    if (this.state === 'closed') return;
    const delay = backoffDelay(this._attempt, this.opts.backoffBase, this.opts.backoffMax, this._random);
    this._attempt++;
    this._setState('disconnected');
    clearTimeout(this._timers.reconnect);
    this._timers.reconnect = setTimeout(() => this._open(delay), delay);
  }

  _stop(code, reason, error) {
    if (this.state === 'closed') return;
    const ws = this._ws;
    this._setState('closed');
    this._closed(code, reason);
    if (ws) {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try {
        ws.close(1000, 'client closed');
      } catch {
        /* already closing */
      }
    }
    for (const t of Object.values(this._timers)) clearTimeout(t);
    for (const sub of this._subs.values()) sub.reject(new StarlingError('closed', 'starling: client closed'));
    for (const p of this._queue.splice(0)) p.reject(new StarlingError('closed', 'starling: client closed'));
    if (typeof globalThis.removeEventListener === 'function') {
      globalThis.removeEventListener('online', this._onOnline);
      globalThis.removeEventListener('offline', this._onOffline);
    }
    this._emit('closed', { code, reason, error });
  }

  _online() {
    this._offlineNow = false;
    if (this.state !== 'disconnected' || this._ws) return;
    // Back online: reconnect soon, but not in the same instant as every
    // other client on this network.
    clearTimeout(this._timers.reconnect);
    const delay = backoffDelay(0, this.opts.backoffBase, this.opts.backoffMax, this._random);
    this._timers.reconnect = setTimeout(() => this._open(delay), delay);
  }

  _offline() {
    this._offlineNow = true;
    clearTimeout(this._timers.reconnect);
    if (this._ws) this._drop(1006, 'browser offline');
  }

  // ---- liveness ----

  _touch() {
    this._lastRecv = Date.now();
    if (this._pingAt !== undefined) {
      this._pingAt = undefined;
      clearTimeout(this._timers.pong);
      this._schedulePing();
    }
  }

  _schedulePing() {
    clearTimeout(this._timers.ping);
    const i = this.opts.pingInterval;
    const wait = i - Math.floor(this._random() * (i / 4 + 1));
    const check = () => {
      if (!this._ready) return;
      const idle = Date.now() - this._lastRecv;
      if (idle < wait) {
        this._timers.ping = setTimeout(check, wait - idle);
        return;
      }
      this._pingAt = Date.now();
      this._send({ op: 'ping' });
      this._timers.pong = setTimeout(() => this._drop(1006, 'no pong within pongTimeout'), this.opts.pongTimeout);
    };
    this._timers.ping = setTimeout(check, wait);
  }

  // ---- token refresh ----

  _scheduleRefresh(gen) {
    clearTimeout(this._timers.refresh);
    const exp = tokenExp(this._token);
    if (!this.opts.getToken || exp === null) return;
    const left = exp - Date.now();
    let lead = Math.min(this.opts.refreshBefore, left / 10);
    if (lead > 0) lead += Math.floor(this._random() * (lead / 2 + 1));
    this._timers.refresh = setTimeout(() => this._refresh(gen), Math.max(left - lead, 1000));
  }

  async _refresh(gen) {
    let token;
    try {
      token = await this.opts.getToken();
    } catch (e) {
      if (gen !== this._gen) return;
      this._emit('error', { error: new StarlingError('token', `starling: token refresh: ${e?.message ?? e}`) });
      this._timers.refresh = setTimeout(() => this._refresh(gen), 5000);
      return;
    }
    this._token = token; // the next connection uses it, whatever becomes of this one
    if (gen !== this._gen || !this._ready) return;
    this._request({ op: 'auth', token }, 'auth').then(
      () => {
        this._refused = false;
        this._emit('authenticated', {});
        if (gen === this._gen) this._scheduleRefresh(gen);
      },
      (e) => e.code !== 'conn_lost' && this._emit('error', { error: e }),
    );
  }

  // ---- ops ----

  _send(op) {
    try {
      this._ws.send(JSON.stringify(op));
      return true;
    } catch {
      return false; // the close event follows
    }
  }

  _request(op, kind, extra = {}) {
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { kind, resolve, reject, ...extra });
      this._send({ ...op, id });
    });
  }

  _sendSub(sub) {
    const op = { op: 'sub', ch: sub.channel };
    const resumed = sub.last !== null && sub.epoch;
    if (resumed) op.since = { off: sub.last, epoch: sub.epoch };
    this._request(op, 'sub', { sub, resumed: !!resumed }).catch(() => {});
  }

  _sendPub(p) {
    this._request({ op: 'pub', ch: p.channel, data: p.data }, 'pub').then((r) => p.resolve(r.off), p.reject);
  }

  async _unsubscribe(sub) {
    if (sub.closed) return;
    sub.closed = true;
    if (this._subs.get(sub.channel) === sub) this._subs.delete(sub.channel);
    sub.reject(new StarlingError('closed', 'starling: unsubscribed'));
    if (!this._ready) return; // the next connection does not resubscribe it
    try {
      await this._request({ op: 'unsub', ch: sub.channel }, 'unsub');
    } catch (e) {
      if (e.code !== 'conn_lost') throw e;
    }
  }

  _message(raw) {
    this._touch();
    if (typeof raw !== 'string') return; // JSON only
    let m;
    try {
      m = JSON.parse(raw);
    } catch {
      return;
    }
    if (m.op === 'msg') return this._deliver(m);
    if (m.id === undefined || !this._pending.has(m.id)) return;
    const p = this._pending.get(m.id);
    this._pending.delete(m.id);
    if (p.kind === 'sub') return this._settle(p, m);
    if (m.op === 'err') p.reject(new StarlingError(m.code, m.msg));
    else p.resolve(m);
  }

  // _settle takes a sub's reply: an ack sets where the stream continues,
  // before any message it announces is handled.
  _settle(p, m) {
    const sub = p.sub;
    if (m.op === 'err') {
      if (this._subs.get(sub.channel) === sub) this._subs.delete(sub.channel);
      sub.closed = true;
      const err = new StarlingError(m.code, `starling: sub ${sub.channel}: ${m.msg}`, sub.channel);
      sub.reject(err);
      this._emit('error', { error: err, channel: sub.channel });
      return;
    }
    const recovered = p.resumed && m.recovered === true;
    if (!recovered) sub.last = m.off; // a new stream, or history lost: continue after the ack
    sub.epoch = m.epoch ?? null;
    sub.resolve();
    if (sub.closed) return;
    this._emit('subscribed', { channel: sub.channel, offset: m.off, epoch: sub.epoch, resumed: p.resumed, recovered });
  }

  _deliver(m) {
    const sub = this._subs.get(m.ch);
    if (!sub || sub.closed) return;
    if (sub.last !== null && m.off <= sub.last) {
      sub.dups++; // already delivered: dropped
      return;
    }
    // Offsets only increase: a cluster's skip (its bus's sequence is shared
    // by every channel), so a jump is no gap; the server announces a loss
    // with recovered:false.
    sub.last = m.off;
    try {
      sub.onMessage({ channel: m.ch, offset: m.off, data: m.data });
    } catch (e) {
      this._emit('error', { error: e, channel: sub.channel });
    }
  }

  _setState(s) {
    if (this.state !== 'closed') this.state = s;
  }

  _emit(type, detail) {
    for (const fn of this._listeners.get(type) ?? []) {
      try {
        fn(detail);
      } catch (e) {
        if (type !== 'error') this._emit('error', { error: e });
      }
    }
  }
}
