// Central redaction: a known secret put anywhere a caller might put it never reaches the log output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, flushLogger, scrubPem, writeFlat, BatchedFdDestination } from '../../src/observability/logger.ts';

function capture(): { lines: string[]; destination: { write(s: string): void } } {
  const lines: string[] = [];
  return { lines, destination: { write: (s: string) => void lines.push(s) } };
}

const SECRET = 'correct-horse-battery-staple-7f3a';
const KEY_PEM = `-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg${SECRET}\n-----END PRIVATE KEY-----\n`;

test('keys, passphrases, credentials and PEM bodies are redacted', async () => {
  const { lines, destination } = capture();
  const log = createLogger({ level: 'trace', destination });
  log.info({ event: 'x', passphrase: SECRET, password: SECRET, key: KEY_PEM }, 'top-level fields');
  log.info({ event: 'x', tls: { key: SECRET, passphrase: SECRET }, upstream: { tls: { key: SECRET } } }, 'nested fields');
  log.info({ event: 'x', headers: { authorization: `Bearer ${SECRET}`, cookie: `sid=${SECRET}`, 'x-client-cert': SECRET } }, 'headers');
  log.info({ event: 'x', req: { headers: { Authorization: 'ignored-case-but-see-below', authorization: `Basic ${SECRET}` } } }, 'req');
  log.warn({ event: 'x', detail: `could not parse ${KEY_PEM}` }, `message with a key ${KEY_PEM}`);
  log.error({ event: 'x', err: new Error(`failed to load ${KEY_PEM}`) }, 'error objects');
  log.info({ event: 'x', list: [KEY_PEM, 'fine'] }, 'arrays');
  log.info({ event: 'x', escaped: `-----BEGIN%20CERTIFICATE-----%0A${SECRET}%0A-----END%20CERTIFICATE-----%0A` }, 'escaped pem');
  await flushLogger(log);
  const out = lines.join('');
  assert.equal(lines.length, 8);
  assert.ok(!out.includes(SECRET), `secret leaked:\n${out}`);
  assert.ok(out.includes('[redacted]'));
  assert.ok(out.includes('[PEM redacted]'));
  for (const line of lines) {
    const obj = JSON.parse(line);
    assert.equal(typeof obj.time, 'string');
    assert.equal(obj.event, 'x');
  }
});

test('ordinary fields pass through unchanged', () => {
  const { lines, destination } = capture();
  const log = createLogger({ destination });
  log.info({ event: 'access', status: 200, path: '/a', subject: 'CN=alice,O=Acme' });
  const obj = JSON.parse(lines[0]);
  assert.equal(obj.level, 'info');
  assert.equal(obj.subject, 'CN=alice,O=Acme');
  assert.equal(obj.status, 200);
});

test('pretty format writes one readable line', () => {
  const { lines, destination } = capture();
  const log = createLogger({ destination, format: 'pretty' });
  log.info({ event: 'gateway.listening', address: '127.0.0.1:8443', passphrase: SECRET }, 'listening');
  assert.match(lines[0], /INFO +gateway\.listening listening address=127\.0\.0\.1:8443/);
  assert.ok(!lines[0].includes(SECRET));
});

test('scrubPem keeps the text around blocks', () => {
  assert.equal(scrubPem(`a ${KEY_PEM}b`), 'a [PEM redacted]\nb');
  assert.equal(scrubPem('no pem here'), 'no pem here');
});

test('the batched destination writes every line, in order, on flush and on flushSync', async (t) => {
  const { mkdtempSync, openSync, closeSync, readFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'cg-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fd = openSync(join(dir, 'out.log'), 'w');
  t.after(() => closeSync(fd));
  const dest = new BatchedFdDestination(fd, 10_000);
  const log = createLogger({ destination: dest });
  for (let i = 0; i < 2000; i++) writeFlat(log, { event: 'access', i, path: `/p/${i}`, cookie: SECRET });
  await flushLogger(log);
  const lines = readFileSync(join(dir, 'out.log'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 2000);
  assert.deepEqual(lines.map((l) => JSON.parse(l).i), Array.from({ length: 2000 }, (_, i) => i));
  assert.ok(!lines.join('').includes(SECRET));
  log.info({ event: 'last' }, 'sync');
  dest.flushSync();
  assert.match(readFileSync(join(dir, 'out.log'), 'utf8'), /"event":"last"/);
});
