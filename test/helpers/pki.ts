// Test helper: throwaway certgate CAs and certificates made through the library (fast, short validity, in mkdtemp).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa } from '../../src/pki/ca-setup.ts';
import { loadCa, unlockCa } from '../../src/pki/ca.ts';
import type { UnlockedCa, Validity } from '../../src/pki/ca.ts';
import { issueCertificate } from '../../src/pki/issue.ts';
import { buildCrl } from '../../src/pki/crl.ts';
import type { IssueResult } from '../../src/pki/issue.ts';
import type { KeyType } from '../../src/pki/keys.ts';
import type { LeafProfile, SanInput } from '../../src/pki/profiles.ts';
import { CaStore } from '../../src/pki/store.ts';
import type { CliResult } from './cli.ts';

/** Anything with node:test's `after` (the test context `t`). */
export interface Cleanup {
  after(fn: () => void | Promise<void>): void;
}

/** A mkdtemp directory removed when the test ends. */
export function tempDir(t: Cleanup, prefix = 'cg-pki-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestCa {
  /** The CA directory (ca.crt, ca.key, chain.pem, certgate.db, issued/). */
  dir: string;
  ca: UnlockedCa;
  /** null when the key is unencrypted. */
  passphrase: string | null;
  /** A 0600 file holding the passphrase (for CLI --passphrase-file), or null. */
  passphraseFile: string | null;
  certPath: string;
  chainPath: string;
}

export interface MakeCaOptions {
  name?: string;
  keyType?: KeyType;
  /** Default 30 days for a root (room for leaf certs of a few days); an intermediate ends with its parent. */
  days?: number;
  /** Default 'test-passphrase'; null for an unencrypted key. */
  passphrase?: string | null;
  /** Makes an intermediate signed by this CA. */
  parent?: TestCa;
  pathLength?: number;
  /** Exact validity, e.g. an already-expired CA. */
  validity?: Validity;
  /** Base URL (`ca create --url`): certificates it signs carry CDP/AIA pointing there. */
  baseUrl?: string;
}

/** Creates a CA in a fresh temp dir (removed after the test). */
export async function makeCa(t: Cleanup, o: MakeCaOptions = {}): Promise<TestCa> {
  const base = tempDir(t, 'cg-ca-');
  const dir = join(base, 'pki');
  const passphrase = o.passphrase === undefined ? 'test-passphrase' : o.passphrase;
  await createCa({
    dir, name: o.name ?? (o.parent ? 'Test Intermediate CA' : 'Test Root CA'), keyType: o.keyType, days: o.days ?? (o.parent ? undefined : 30),
    passphrase, parent: o.parent?.ca, pathLength: o.pathLength ?? (o.parent ? 0 : undefined), validity: o.validity,
    baseUrl: o.baseUrl,
  });
  let passphraseFile: string | null = null;
  if (passphrase !== null) {
    passphraseFile = join(base, 'passphrase.txt');
    writeFileSync(passphraseFile, passphrase + '\n', { mode: 0o600 });
  }
  const ca = await unlockCa(loadCa(dir), passphrase);
  return { dir, ca, passphrase, passphraseFile, certPath: join(dir, 'ca.crt'), chainPath: join(dir, 'chain.pem') };
}

export interface IssueOptions extends SanInput {
  profile?: LeafProfile;
  /** Default 7 days. */
  days?: number;
  keyType?: KeyType;
  o?: string;
  ous?: string[];
  validity?: Validity;
}

export interface TestCert extends IssueResult {
  keyPem: string;
}

/** Issues a client (default) or server certificate; a server gets DNS:localhost + IP:127.0.0.1 unless given SANs. */
export async function issueCert(tca: TestCa, name: string, o: IssueOptions = {}): Promise<TestCert> {
  const profile = o.profile ?? 'client';
  const sans: SanInput = { dns: o.dns, ip: o.ip, email: o.email, uri: o.uri };
  if (profile === 'server' && !o.dns && !o.ip) Object.assign(sans, { dns: ['localhost'], ip: ['127.0.0.1'] });
  const store = CaStore.open(tca.dir);
  try {
    const r = await issueCertificate(tca.ca, store, {
      name, profile, sans, days: o.days ?? 7, keyType: o.keyType, o: o.o, ous: o.ous, validity: o.validity,
    });
    return { ...r, keyPem: readFileSync(r.keyPath!, 'utf8') };
  } finally {
    store.close();
  }
}

/** A user error from the CLI: exit 1 and exactly one "certgate: ..." line on stderr (no stack) matching `pattern`. */
export function assertOneLineError(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit code, stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0], /^certgate: /);
  assert.match(lines[0], pattern);
}

/** CRL numbers for crlPem/writeCrl: rising within the test process, as a CA's own numbering does. */
let nextCrlNumber = 1n;

/**
 * A fresh CRL of `ca` (PEM) revoking `revoked` (keyCompromise, 30 s ago): thisUpdate a minute ago, nextUpdate in a
 * day, each call with a higher CRL number.
 */
export function crlPem(ca: TestCa, revoked: TestCert[] = []): Promise<string> {
  const now = Date.now();
  return buildCrl({
    issuerCert: ca.ca.cert, signingKey: ca.ca.privateKey, crlNumber: nextCrlNumber++, thisUpdate: new Date(now - 60_000), nextUpdate: new Date(now + 86_400_000),
    entries: revoked.map((c) => ({ serial: c.record.serial, revokedAt: new Date(now - 30_000), reason: 'keyCompromise' })),
  });
}

/** Writes crlPem(ca, revoked) to `file` and returns the path. */
export async function writeCrl(ca: TestCa, file: string, revoked: TestCert[] = []): Promise<string> {
  writeFileSync(file, await crlPem(ca, revoked));
  return file;
}
