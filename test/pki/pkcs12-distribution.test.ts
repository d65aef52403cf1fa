// writeP12: password given or generated and shown once, mode 0600, no overwrite, --for picks the encoding and prints steps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeP12, generateP12Password, numberSteps } from '../../src/pki/distribution.ts';
import type { WriteP12Options } from '../../src/pki/distribution.ts';
import { runProcess } from '../helpers/cli.ts';
import { makeHierarchy } from './pkcs12-fixtures.ts';

let dir = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'certgate-p12dist-'));
  await makeHierarchy(dir, ['bob']);
  writeFileSync(join(dir, 'pw.txt'), 'file password\nsecond line ignored\n', { mode: 0o600 });
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, term: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) } };
}

function opts(file: string, extra: Partial<WriteP12Options> = {}): WriteP12Options {
  const read = (n: string) => readFileSync(join(dir, n), 'utf8');
  return {
    ca: { chainPems: [read('inter.crt'), read('root.crt')] },
    certPem: read('bob.crt'),
    keyPem: read('bob.key'),
    name: 'bob',
    out: join(dir, file),
    ...extra,
  };
}

async function info(file: string, passwordFile: string): Promise<string> {
  const res = await runProcess('openssl', ['pkcs12', '-in', file, '-info', '-noout', '-passin', `file:${passwordFile}`]);
  assert.equal(res.code, 0, res.stderr);
  return res.stdout + res.stderr;
}

test('with a given password: writes a modern .p12 mode 0600 and prints no password', async () => {
  const c = capture();
  await writeP12(opts('file.p12', { password: 'file password' }), c.term);
  const file = join(dir, 'file.p12');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.match(await info(file, join(dir, 'pw.txt')), /AES-256-CBC/);
  assert.doesNotMatch([...c.out, ...c.err].join('\n'), /file password/);
  assert.match(c.err.join('\n'), /modern encoding/);
});

test('without a password file: generates one, prints it once on stderr only, and it opens the file', async () => {
  const c = capture();
  await writeP12(opts('generated.p12'), c.term);
  const lines = c.err.filter((l) => /shown once/.test(l));
  assert.equal(lines.length, 1);
  const password = lines[0].split(': ').pop() as string;
  assert.match(password, /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){5}$/);
  assert.doesNotMatch(c.out.join('\n'), new RegExp(password));
  const pw = join(dir, 'generated-pw.txt');
  writeFileSync(pw, password + '\n', { mode: 0o600 });
  await info(join(dir, 'generated.p12'), pw);
});

test('refuses an empty password (CG_PKI_BAD_PASSWORD) and writes nothing', async () => {
  const c = capture();
  await assert.rejects(writeP12(opts('empty.p12', { password: '' }), c.term), { code: 'CG_PKI_BAD_PASSWORD' });
  assert.equal(existsSync(join(dir, 'empty.p12')), false);
});

test('never overwrites an existing file, and needs the target directory to exist', async () => {
  writeFileSync(join(dir, 'taken.p12'), 'precious');
  await assert.rejects(writeP12(opts('taken.p12'), capture().term), { code: 'CG_FILE_EXISTS' });
  assert.equal(readFileSync(join(dir, 'taken.p12'), 'utf8'), 'precious');
  await assert.rejects(writeP12(opts('no/such/dir/x.p12'), capture().term), { code: 'CG_FILE_NOT_FOUND' });
});

test('--for picks the platform encoding and prints its import steps; --legacy forces legacy', async () => {
  const rows = [
    { platform: 'ios' as const, legacy: false, expect: /pbeWithSHA1And3-KeyTripleDES-CBC/, steps: /Profile Downloaded/ },
    { platform: 'firefox' as const, legacy: false, expect: /AES-256-CBC/, steps: /Your Certificates/ },
    { platform: 'firefox' as const, legacy: true, expect: /pbeWithSHA1And3-KeyTripleDES-CBC/, steps: /because of --legacy/ },
  ];
  for (const [i, r] of rows.entries()) {
    const c = capture();
    const file = `for-${i}.p12`;
    await writeP12(opts(file, { platform: r.platform, legacy: r.legacy, password: 'file password' }), c.term);
    assert.match(await info(join(dir, file), join(dir, 'pw.txt')), r.expect, r.platform);
    assert.match(c.out.join('\n'), r.steps, r.platform);
  }
});

test('generated passwords are distinct and well-formed', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) seen.add(generateP12Password());
  assert.equal(seen.size, 50);
});

test('numberSteps numbers steps and indents continuation lines', () => {
  assert.deepEqual(numberSteps(['a', '  b', 'c']), ['  1. a', '     b', '  2. c']);
});
