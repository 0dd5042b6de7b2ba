// Types for starling.js (the browser client for Starling).

export interface Options {
  /** Sent in an auth op as the first message of every connection. */
  token?: string;
  /** Called for the first connection (without token), after a 4401 close, and before the token's exp. */
  getToken?: () => string | Promise<string>;
  /** Only 'json' (text frames). */
  encoding?: 'json';
  /** ms; ceiling of the first reconnect's wait (default 500). */
  backoffBase?: number;
  /** ms; largest ceiling (default 20000). */
  backoffMax?: number;
  /** ms a connection must stay up before the backoff starts again from its first step (default 5000). */
  stableAfter?: number;
  /** ms of silence before a ping op, less up to a quarter drawn each time (default 25000). */
  pingInterval?: number;
  /** ms after a ping without any frame before reconnecting (default 10000). */
  pongTimeout?: number;
  /** ms for the auth op's ack (default 10000). */
  authTimeout?: number;
  /** ms before the token's exp to refresh it, at most a tenth of its remaining life (default 30000). */
  refreshBefore?: number;
  /** Publishes that may wait for a connection (default 1000). */
  maxQueued?: number;
  /** The jitter source (default Math.random). */
  random?: () => number;
  /** The WebSocket constructor (default globalThis.WebSocket). */
  WebSocket?: typeof WebSocket;
}

export interface Message<T = unknown> {
  channel: string;
  offset: number;
  data: T;
}

export interface Subscription {
  readonly channel: string;
  /** Resolves on the first ack; rejects if the server refuses the sub or the client closes first. */
  readonly ready: Promise<void>;
  /** The last offset delivered and its epoch (what a reconnect resumes from). */
  position(): { offset: number | null; epoch: string | null };
  /** Messages dropped because their offset had already been delivered. */
  duplicates(): number;
  /** No message of the channel reaches onMessage afterwards. */
  unsubscribe(): Promise<void>;
}

export interface Events {
  connecting: { attempt: number; delay: number };
  connected: {};
  authenticated: {};
  /** code 1006 when the connection ended without a close frame (or was abandoned: no pong, offline). */
  disconnected: { code: number; reason: string };
  /** recovered: with resumed, every missed message follows; false means reload the channel's state. */
  subscribed: { channel: string; offset: number; epoch: string | null; resumed: boolean; recovered: boolean };
  error: { error: Error; channel?: string };
  /** The client stopped for good: close(), 4403, or a 4401 that a fresh token did not cure. */
  closed: { code: number; reason: string; error: StarlingError | null };
}

export type State = 'connecting' | 'connected' | 'disconnected' | 'closed';

export declare class StarlingError extends Error {
  /** The server's err code (400, 403, 422, 429, ...), the close code (4401, 4403), or a client-side string. */
  code: number | 'bad_channel' | 'subscribed' | 'closed' | 'queue_full' | 'conn_lost' | 'token' | 'socket';
  channel?: string;
}

export declare class StarlingClient {
  readonly url: string;
  readonly state: State;
  on<K extends keyof Events>(type: K, fn: (e: Events[K]) => void): () => void;
  off<K extends keyof Events>(type: K, fn: (e: Events[K]) => void): void;
  subscribe<T = unknown>(channel: string, onMessage: (m: Message<T>) => void): Subscription;
  /** Resolves to the offset the publish took. */
  publish(channel: string, data: unknown): Promise<number>;
  close(): void;
}

export declare const DEFAULTS: Readonly<Required<Pick<Options,
  'backoffBase' | 'backoffMax' | 'stableAfter' | 'pingInterval' | 'pongTimeout' | 'authTimeout' | 'refreshBefore' | 'maxQueued'>>>;

export declare function connect(url: string, options?: Options): StarlingClient;
export declare function backoffCeiling(attempt: number, base?: number, max?: number): number;
export declare function backoffDelay(attempt: number, base?: number, max?: number, random?: () => number): number;
export declare function tokenExp(token: string): number | null;
