// `certgate explain` and the running gateway give the same answer: one table of requests goes through both, and the
// status and reason code of each must agree (explain calls the server's own decide(); this keeps it that way).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/load.ts';
import { certificatesFromFile, explainRequest } from '../../src/gateway/explain.ts';
import { opensslCrl, opensslIntermediateCa, opensslLeaf, opensslRevoke, opensslRootCa, opensslSelfSigned, type OsslCert } from '../helpers/openssl-certs.ts';
import { tempDir } from '../helpers/pki.ts';
import { startEchoUpstream } from '../helpers/echo-upstream.ts';
import { startGateway } from '../helpers/gateway.ts';
import { h1Request } from '../helpers/tls-clients.ts';

const yaml = (port: number, upstream: string) => `
servers:
  - listen: 127.0.0.1:${port}
    tls: {cert: server.crt, key: server.key}
    clientAuth: {ca: bundle.pem, crl: [root.crl, inter.crl], mode: verify}
    sites:
      - hosts: [app.example.com, localhost]
        routes:
          - path: /
            upstream: ${upstream}
            public: true
          - path: /admin
            upstream: {url: "${upstream}/base", stripPrefix: true}
            allow: [{ou: ops}]
            deny: [{cn: mallory}]
          - path: /dev
            upstream: ${upstream}
            allow: [{ou: dev}, {sourceIp: 10.0.0.0/8}]
`;

test('explain and the gateway agree on every row of the table', async (t) => {
  const dir = tempDir(t, 'cg-explain-live-');
  const root = await opensslRootCa(dir, 'root');
  const inter = await opensslIntermediateCa(root, dir, 'inter');
  const server = await opensslLeaf(root, { subj: '/CN=localhost', name: 'server', eku: 'serverAuth', san: 'DNS:localhost,DNS:app.example.com,DNS:evil.test' });
  writeFileSync(join(dir, 'server.crt'), server.certPem);
  writeFileSync(join(dir, 'server.key'), server.keyPem);
  const alice = await opensslLeaf(inter, { subj: '/O=Acme/OU=ops/CN=alice', name: 'alice' });
  const bob = await opensslLeaf(inter, { subj: '/O=Acme/OU=dev/CN=bob', name: 'bob' });
  const mallory = await opensslLeaf(inter, { subj: '/O=Acme/OU=ops/CN=mallory', name: 'mallory' });
  const revoked = await opensslLeaf(inter, { subj: '/O=Acme/OU=ops/CN=gone', name: 'gone' });
  const expired = await opensslLeaf(inter, { subj: '/O=Acme/OU=ops/CN=old', name: 'old', startdate: '20200101000000Z', enddate: '20200102000000Z' });
  const lookalike = await opensslSelfSigned(dir, 'lookalike', '/O=Acme/OU=ops/CN=alice');
  await opensslRevoke(inter, revoked);
  await opensslCrl(root, join(dir, 'root.crl'));
  await opensslCrl(inter, join(dir, 'inter.crl'));
  writeFileSync(join(dir, 'bundle.pem'), root.certPem + inter.certPem);

  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(t, dir, yaml(0, upstream.url));
  const config = parseConfigText(yaml(gw.port, upstream.url), join(dir, 'explain.yaml'), dir);

  const rows: Array<{ host: string; path: string; cert?: OsslCert; chain?: boolean }> = [
    { host: 'app.example.com', path: '/admin/users?x=1', cert: alice },
    { host: 'app.example.com', path: '/admin/users', cert: alice, chain: true },
    { host: 'app.example.com', path: '/admin', cert: bob },
    { host: 'app.example.com', path: '/admin' },
    { host: 'app.example.com', path: '/admin', cert: mallory },
    { host: 'app.example.com', path: '/admin', cert: revoked },
    { host: 'app.example.com', path: '/admin', cert: expired },
    { host: 'app.example.com', path: '/admin', cert: lookalike },
    { host: 'app.example.com', path: '/', cert: expired },
    { host: 'app.example.com', path: '/dev/x', cert: bob },
    { host: 'app.example.com', path: '/dev/x', cert: alice },
    { host: 'localhost', path: '/public/..;/admin' },
    { host: 'localhost', path: '/a%2fb' },
    { host: 'localhost', path: '/x/../admin', cert: alice },
    { host: 'localhost', path: '/ADMIN' },
    { host: 'evil.test', path: '/' },
  ];
  for (const row of rows) {
    const label = `${row.host}${row.path}${row.cert ? ` as ${row.cert.certPath}` : ''}${row.chain ? ' (with chain)' : ''}`;
    const certPem = row.cert ? row.cert.certPem + (row.chain ? inter.certPem : '') : undefined;
    const res = await h1Request(gw.port, row.path, { ca: root.certPem, cert: certPem, key: row.cert?.keyPem, servername: row.host }, { headers: { host: `${row.host}:${gw.port}` } });
    const liveReason = /Reason: <code>([a-z_]+)<\/code>/.exec(res.body)?.[1] ?? null;

    const certFile = join(dir, 'presented.pem');
    if (certPem) writeFileSync(certFile, certPem);
    const e = explainRequest({
      config,
      url: `https://${row.host}:${gw.port}${row.path}`,
      cert: certPem ? { file: certFile, certs: certificatesFromFile(readFileSync(certFile), certFile) } : null,
    });
    if (e.outcome.action === 'proxy') {
      assert.equal(res.status, 200, `${label}: explain says proxied, the gateway answered ${res.status} ${liveReason}`);
      const seen = upstream.seen.at(-1)!;
      assert.equal(`http://127.0.0.1:${upstream.port}${seen.url}`, e.outcome.location, `${label}: the upstream path`);
    } else {
      assert.equal(e.outcome.action, 'refuse', label);
      assert.equal(res.status, e.outcome.status, `${label}: status (explain: ${e.outcome.reason}, live: ${liveReason})`);
      assert.equal(liveReason, e.outcome.reason, `${label}: reason`);
    }
  }
});
