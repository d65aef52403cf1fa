// `certgate explain` on tcp: servers: the tcp allow/deny decide (through decideTunnel, the function proxy-tcp.ts
// runs), require mode fails the handshake without a certificate, the client direction tunnels without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import { parseConfigText } from '../../../src/config/load.ts';
import { certificatesFromFile, explainRequest } from '../../../src/gateway/explain.ts';
import { formatExplanation } from '../../../src/cli/commands/explain.ts';

test('explain on tcp servers: allowed, denied, no certificate, client direction', async (t) => {
  const dir = tempDir(t, 'cg-tcp-explain-');
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const app = await issueCert(ca, 'app-server');
  const mallory = await issueCert(ca, 'mallory');
  const config = parseConfigText(`
servers:
  - listen: 0.0.0.0:15432
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}, mode: require}
    tcp:
      upstream: 127.0.0.1:5432
      allow: [{cn: [app-server, mallory]}]
      deny: [{cn: mallory}]
  - listen: 127.0.0.1:5433
    tcp:
      upstream: {address: db.example.com:15432, tls: {ca: ${ca.certPath}, cert: ${app.certPath}, key: ${app.keyPath}}}
`, 'certgate.yaml', dir);
  const cert = (c: { certPath: string }) => ({ file: 'x.crt', certs: certificatesFromFile(readFileSync(c.certPath), 'x.crt') });

  const ok = explainRequest({ config, url: 'tcp://db.example.com:15432', cert: cert(app) });
  assert.equal(ok.outcome.action, 'proxy');
  assert.deepEqual(ok.tcp, { direction: 'server', upstream: '127.0.0.1:5432', upstreamTls: false });
  assert.equal(ok.rule, 'servers[0].tcp.allow[0]: cn=app-server|mallory');
  assert.match(formatExplanation(ok).join('\n'), /Result +allowed: tunnelled to 127\.0\.0\.1:5432 over plain TCP/);

  const denied = explainRequest({ config, url: 'tcp://db.example.com:15432', cert: cert(mallory) });
  assert.equal(denied.outcome.action, 'refuse');
  assert.equal(denied.outcome.reason, 'not_allowed');
  assert.equal(denied.rule, 'servers[0].tcp.deny[0]: cn=mallory');
  assert.match(formatExplanation(denied).join('\n'), /Result +denied \(not_allowed\): the connection is closed before 127\.0\.0\.1:5432 is dialled/);

  // https:// on the port of a tcp: server with tls: is the same server
  const none = explainRequest({ config, url: 'https://db.example.com:15432/', cert: null });
  assert.equal(none.outcome.action, 'handshake_failure');
  assert.equal(none.outcome.reason, 'no_certificate');

  const client = explainRequest({ config, url: 'tcp://127.0.0.1:5433', cert: cert(app) });
  assert.equal(client.outcome.action, 'proxy');
  assert.equal(client.tcp?.direction, 'client');
  assert.match(client.warnings.join('\n'), /asks for no certificate; x\.crt is not used/);
});
