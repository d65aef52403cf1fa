// acceptCrl: what a fetched CRL must pass before it replaces the last good one, one row per check, accepted and refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import { runCli } from '../../helpers/cli.ts';
import { acceptCrl, highestNumber, MAX_FUTURE_MS } from '../../../src/gateway/tls/crl-accept.ts';
import { buildCrl } from '../../../src/pki/crl.ts';
import { pemDecodeAll, pemEncode } from '../../../src/core/pem.ts';

test('acceptCrl: signature, issuer, CRL number, thisUpdate; a reset is accepted only when allowed', async (t) => {
  tempDir(t);
  const root = await makeCa(t, { passphrase: null, name: 'Root' });
  const other = await makeCa(t, { passphrase: null, name: 'Other' });
  await issueCert(root, 'alice');
  const cas = [new X509Certificate(root.ca.certPem)];
  const first = readFileSync(join(root.dir, 'crl.pem'));
  assert.equal((await runCli(['cert', 'revoke', 'alice', '--dir', root.dir])).code, 0);
  const second = readFileSync(join(root.dir, 'crl.pem'));
  const [block] = pemDecodeAll(second.toString('latin1'));
  const der = Buffer.from(block.der);
  const flipped = Buffer.from(der);
  flipped[flipped.length - 1] ^= 1;
  const future = Buffer.from(await buildCrl({
    issuerCert: root.ca.cert, signingKey: root.ca.privateKey, entries: [], crlNumber: 99n,
    thisUpdate: new Date(Date.now() + MAX_FUTURE_MS + 60_000), nextUpdate: new Date(Date.now() + 86_400_000),
  }));
  const now = new Date();

  const start = acceptCrl(first, 'u', cas, null, now);
  assert.ok(start.ok);
  const n1 = start.ok ? highestNumber(start.state)! : 0n;
  const next = acceptCrl(second, 'u', cas, start.ok ? start.state : null, now);
  assert.ok(next.ok, 'a newer CRL is accepted');
  assert.equal(next.ok && highestNumber(next.state), n1 + 1n);
  assert.ok(acceptCrl(der, 'u', cas, next.ok ? next.state : null, now).ok, 'DER, same number: accepted');
  assert.ok(acceptCrl(Buffer.from(pemEncode('X509 CRL', der)), 'u', cas, next.ok ? next.state : null, now).ok);

  const rows: Array<[string, Buffer, string]> = [
    ['older number', first, 'number_backwards'],
    ['broken signature', Buffer.from(pemEncode('X509 CRL', flipped)), 'bad_signature'],
    ['another CA', readFileSync(join(other.dir, 'crl.pem')), 'unknown_issuer'],
    ['garbage', Buffer.from('hello'), 'unparsable'],
    ['empty', Buffer.alloc(0), 'unparsable'],
    ['thisUpdate in the future', future, 'future_this_update'],
  ];
  for (const [name, body, reason] of rows) {
    const r = acceptCrl(body, 'u', cas, next.ok ? next.state : null, now);
    assert.equal(r.ok, false, name);
    if (!r.ok) assert.equal(r.reason, reason, `${name}: ${r.detail}`);
  }
  assert.ok(acceptCrl(first, 'u', cas, next.ok ? next.state : null, now, true).ok, 'accept-reset lets the number go down');
  assert.ok(acceptCrl(future, 'u', cas, null, new Date(Date.now() + 120_000)).ok, 'within 5 minutes of skew');
  // a URL that served a bundle of two issuers may not drop one of them
  const both = Buffer.concat([second, readFileSync(join(other.dir, 'crl.pem'))]);
  const wide = acceptCrl(both, 'u', [...cas, new X509Certificate(other.ca.certPem)], null, now);
  assert.ok(wide.ok);
  const narrowed = acceptCrl(second, 'u', cas, wide.ok ? wide.state : null, now);
  assert.equal(narrowed.ok, false);
  assert.equal(!narrowed.ok && narrowed.reason, 'issuer_changed');
});
