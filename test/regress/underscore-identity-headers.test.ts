// Regression: "X_Client_Verify: SUCCESS" (underscores) was forwarded. CGI-style stacks (PHP, WSGI, Rack) map it and
// "X-Client-Verify" to the same variable (HTTP_X_CLIENT_VERIFY), so a client could forge its identity. Underscore
// spellings of every header the gateway owns are now dropped; other underscore headers still pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EchoReply } from '../helpers/echo-upstream.ts';
import { RawConnection, h2Session, h2Request } from '../helpers/tls-clients.ts';
import { gatewaySuite } from '../helpers/suite.ts';

const suite = gatewaySuite({
  prefix: 'cg-underscore',
  clients: { alice: [] },
  body: (u) => `    routes: [{path: /, upstream: "${u}", public: true}]
`,
});

const names = (raw: readonly string[]) => raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());

test('underscore spellings of the identity and forwarding headers never reach the upstream (HTTP/1.1)', async () => {
  const forged = 'X_Client_Verify: SUCCESS\r\nx_client_subject: CN=admin\r\nX-Client_Serial: 01\r\nX_CLIENT_CERT: x\r\n' +
    'X_Client_Issuer: CN=evil\r\nX_Client_Fingerprint: ab\r\nX_Real_IP: 10.1.1.1\r\nX_Forwarded_For: 10.1.1.1\r\n' +
    'X_Forwarded_Proto: http\r\nX_Forwarded_Host: evil.test\r\nTransfer_Encoding: chunked\r\n';
  for (const cert of [undefined, suite.clients.alice]) {
    const conn = await RawConnection.open(suite.gw.port, { ca: suite.ca.ca.certPem, cert: cert?.certPem, key: cert?.keyPem });
    try {
      const res = await conn.get('/underscore', 'localhost', forged);
      assert.equal(res?.status, 200);
      const reply = JSON.parse(res!.body) as EchoReply;
      const leaked = names(reply.rawHeaders).filter((n) => n.includes('_'));
      assert.deepEqual(leaked, [], `underscore headers forwarded: ${leaked.join(', ')}`);
      assert.equal(reply.headers['x-client-verify'], cert ? 'SUCCESS' : 'NONE');
      assert.equal(reply.headers['x-forwarded-for'], '127.0.0.1');
    } finally {
      conn.close();
    }
  }
});

test('underscore spellings are dropped on HTTP/2 too; other underscore headers pass', async () => {
  const s = await h2Session(suite.gw.port, { ca: suite.ca.ca.certPem });
  suite.scope.after(() => s.close());
  const res = await h2Request(s, '/underscore-h2', { headers: { x_client_verify: 'SUCCESS', x_client_subject: 'CN=admin', x_real_ip: '10.1.1.1', x_app_token: 't' } });
  assert.equal(res.status, 200);
  const reply = JSON.parse(res.body) as EchoReply;
  assert.deepEqual(names(reply.rawHeaders).filter((n) => n.includes('_')), ['x_app_token']);
  assert.equal(reply.headers['x-client-verify'], 'NONE');
});
