// The two parts of undici the gateway uses (Pool and its TLS connector), loaded without undici's index.
// undici's index loads every dispatcher, fetch, WebSocket, the cache and mock layers (110 modules); serving needs 40 of
// them. Measured on `certgate serve` at start: see docs/benchmarks.md "Start-up memory". The classes are the ones the
// index re-exports, so the types come from there. proxy-http.ts calls only `dispatch`, which Pool has without the
// request/stream helpers the index adds to Dispatcher.prototype.
import type { Pool as UndiciPool, buildConnector as UndiciBuildConnector } from 'undici';
// @ts-expect-error undici ships declarations for its index only
import PoolClass from 'undici/lib/dispatcher/pool.js';
// @ts-expect-error as above
import connectorFactory from 'undici/lib/core/connect.js';

export type Pool = UndiciPool;
export const Pool = PoolClass as typeof UndiciPool;
export const buildConnector = connectorFactory as typeof UndiciBuildConnector;
