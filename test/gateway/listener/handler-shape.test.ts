// The TLS handler is built without the SNI and ALPN callbacks when the config does not need them (they cost a JS round
// trip in every handshake). A reload that needs them (a site with its own certificate; h2 turned off) gets a new
// handler behind the same bound socket, and a reload that no longer needs them drops them again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import { startGateway, reloadGateway } from '../../helpers/gateway.ts';
import { RawConnection } from '../../helpers/tls-clients.ts';
import type { Creds } from '../../helpers/tls-clients.ts';

interface Hello {
  ok: boolean;
  alpn?: string | false | null;
  subjectCn?: string;
  code?: string;
}

/** One handshake: the ALPN the server picked and the CN of the certificate it served, or the error code. */
function hello(port: number, ca: string, o: Partial<ConnectionOptions>): Promise<Hello> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', checkServerIdentity: () => undefined, ...o }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      resolve({ ok: true, alpn: s.alpnProtocol, subjectCn: Array.isArray(cn) ? cn[0] : cn });
      s.destroy();
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, code: err.code }));
    s.setTimeout(5_000, () => {
      s.destroy();
      resolve({ ok: false, code: 'timeout' });
    });
  });
}

test('SNI and ALPN callbacks only when needed; reloads that change the need keep the address and open connections', async (t) => {
  const dir = tempDir(t, 'cg-shape-');
  const ca = await makeCa(t, { passphrase: null });
  const main = await issueCert(ca, 'gateway', { profile: 'server' });
  const site = await issueCert(ca, 'site-cert', { profile: 'server', dns: ['site.test'] });
  const alice = await issueCert(ca, 'alice');
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const creds: Creds = { ca: ca.ca.certPem, cert: alice.certPem, key: alice.keyPem };
  const config = (o: { h2: boolean; site: boolean }) => `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${main.certPath}, key: ${main.keyPath}}
    http2: ${o.h2}
    clientAuth: {ca: ${ca.certPath}}
${o.site ? `    sites:
      - hosts: [site.test]
        tls: {cert: ${site.certPath}, key: ${site.keyPath}}
        routes: [{path: /, upstream: "${upstream.url}"}]
      - hosts: ["*"]
        routes: [{path: /, upstream: "${upstream.url}"}]
` : `    routes: [{path: /, upstream: "${upstream.url}"}]
`}`;
  const gw = await startGateway(t, dir, config({ h2: true, site: false }));
  const port = gw.port;
  const caPem = ca.ca.certPem;

  // one certificate, h2 on: Node's static ALPN list, the default certificate whatever the SNI
  assert.deepEqual(await hello(port, caPem, { ALPNProtocols: ['h2', 'http/1.1'] }), { ok: true, alpn: 'h2', subjectCn: 'gateway' });
  assert.equal((await hello(port, caPem, { ALPNProtocols: ['http/1.1'] })).alpn, 'http/1.1');
  assert.equal((await hello(port, caPem, {})).alpn, false, 'no ALPN offered: none chosen (served as HTTP/1.1)');
  assert.equal((await hello(port, caPem, { servername: 'site.test' })).subjectCn, 'gateway');
  // a client offering only protocols we do not speak is refused with no_application_protocol (RFC 7301, as nginx)
  assert.equal((await hello(port, caPem, { ALPNProtocols: ['imap'] })).code, 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');

  const open = await RawConnection.open(port, creds);
  t.after(() => open.close());
  assert.equal((await open.get('/before'))?.status, 200);

  // a site with its own certificate: SNI now picks it, on the same bound socket
  await reloadGateway(gw, dir, config({ h2: true, site: true }));
  assert.equal(gw.events('config.reload_refused').length, 0);
  assert.equal((await hello(port, caPem, { servername: 'site.test' })).subjectCn, 'site-cert');
  assert.equal((await hello(port, caPem, { servername: 'localhost' })).subjectCn, 'gateway');
  assert.equal((await hello(port, caPem, { ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'h2');
  // the connection opened before the switch is answered once more, then closed (its handler was retired)
  const after = await open.get('/after');
  assert.equal(after?.status, 200);
  assert.equal(after?.headers.connection, 'close');

  // h2 off: HTTP/1.1 is chosen even when h2 is offered first
  await reloadGateway(gw, dir, config({ h2: false, site: true }));
  assert.deepEqual(await hello(port, caPem, { ALPNProtocols: ['h2', 'http/1.1'], servername: 'site.test' }), { ok: true, alpn: 'http/1.1', subjectCn: 'site-cert' });

  // and back to the plain shape: no site, h2 on
  await reloadGateway(gw, dir, config({ h2: true, site: false }));
  assert.deepEqual(await hello(port, caPem, { ALPNProtocols: ['h2', 'http/1.1'], servername: 'site.test' }), { ok: true, alpn: 'h2', subjectCn: 'gateway' });
  assert.equal(gw.events('gateway.listening').length, 1, 'bound once, at start');
  assert.equal(gw.events('config.reload_refused').length, 0);
});
