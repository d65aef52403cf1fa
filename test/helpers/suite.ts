// Test helper: the fixture most gateway suites share — a CA, a gateway certificate, an echo upstream and a gateway
// with client-certificate auth — set up once per file and torn down after it, in reverse order.
import { before, after } from 'node:test';
import { makeCa, issueCert, tempDir } from './pki.ts';
import type { Cleanup, TestCa, TestCert } from './pki.ts';
import { startEchoUpstream } from './echo-upstream.ts';
import type { EchoUpstream } from './echo-upstream.ts';
import { startGateway } from './gateway.ts';
import type { TestGateway } from './gateway.ts';

/** A `t.after` for a whole file: cleanups registered on it run (newest first) in node:test's `after` hook. */
export function fileScope(): Cleanup {
  const cleanups: Array<() => unknown> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  return { after: (fn) => void cleanups.push(fn) };
}

export interface GatewaySuite {
  scope: Cleanup;
  dir: string;
  ca: TestCa;
  server: TestCert;
  upstream: EchoUpstream;
  gw: TestGateway;
  /** Client certificates issued by name in `before`. */
  clients: Record<string, TestCert>;
}

export interface GatewaySuiteOptions {
  /** mkdtemp prefix. */
  prefix: string;
  /** DNS SANs of the gateway certificate (default localhost + IP 127.0.0.1). */
  serverDns?: string[];
  /** Client certificates to issue (name => subject OUs). */
  clients?: Record<string, string[]>;
  /**
   * The YAML under the listener's `clientAuth` line: `routes:` or `sites:`, indented four spaces.
   * `upstream` is the echo upstream's URL.
   */
  body: (upstream: string) => string;
}

/**
 * Registers a `before` hook that builds the fixture; the returned object is filled in when the hook has run.
 * Listener: TLS on 127.0.0.1:0, `clientAuth: {ca: <the CA>}` (verify mode).
 */
export function gatewaySuite(o: GatewaySuiteOptions): GatewaySuite {
  const suite = { scope: fileScope(), clients: {} } as GatewaySuite;
  before(async () => {
    suite.dir = tempDir(suite.scope, `${o.prefix}-`);
    suite.ca = await makeCa(suite.scope, { passphrase: null });
    suite.server = await issueCert(suite.ca, 'gateway', o.serverDns ? { profile: 'server', dns: o.serverDns } : { profile: 'server' });
    for (const [name, ous] of Object.entries(o.clients ?? {})) suite.clients[name] = await issueCert(suite.ca, name, { ous });
    suite.upstream = await startEchoUpstream();
    suite.scope.after(() => suite.upstream.close());
    suite.gw = await startGateway(suite.scope, suite.dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${suite.server.certPath}, key: ${suite.server.keyPath}}
    clientAuth: {ca: ${suite.ca.certPath}}
${o.body(suite.upstream.url)}`);
  });
  return suite;
}
