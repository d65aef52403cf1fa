// Target parsing as a table: URLs, HOST:PORT, IPv6, the SNI name and the name to verify; refusals are CG_USAGE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTarget } from '../../src/doctor/target.ts';
import { CertgateError } from '../../src/core/errors.ts';

test('targets: URLs, HOST:PORT, IPv6, --servername', () => {
  const cases = [
    { input: ['https://app.example.com'], expected: { host: 'app.example.com', port: 443, path: '/', servername: 'app.example.com', verifyName: 'app.example.com', http: 'always' } },
    { input: ['https://127.0.0.1:8443/api?x=1'], expected: { host: '127.0.0.1', port: 8443, path: '/api?x=1', servername: undefined, verifyName: '127.0.0.1', http: 'always' } },
    { input: ['https://127.0.0.1:8443/', 'backend.internal'], expected: { host: '127.0.0.1', port: 8443, path: '/', servername: 'backend.internal', verifyName: 'backend.internal', http: 'always' } },
    { input: ['db.example.com:15432'], expected: { host: 'db.example.com', port: 15432, path: '/', servername: 'db.example.com', verifyName: 'db.example.com', http: 'alpn' } },
    { input: ['[::1]:4433'], expected: { host: '::1', port: 4433, path: '/', servername: undefined, verifyName: '::1', http: 'alpn' } },
    { input: ['https://[::1]:4433/x'], expected: { host: '::1', port: 4433, path: '/x', servername: undefined, verifyName: '::1', http: 'always' } },
  ] as const;
  for (const { input, expected } of cases) assert.deepEqual(parseTarget(input[0], input[1]), expected, input.join(' '));
  const refused = [['http://app/'], ['app.example.com'], ['app:0'], ['app:70000'], ['https://x:1/', '10.0.0.1'], ['ftp://x/'], ['a b:1']];
  for (const [text, sni] of refused) {
    assert.throws(() => parseTarget(text, sni), (err: unknown) => err instanceof CertgateError && err.code === 'CG_USAGE', text);
  }
});
