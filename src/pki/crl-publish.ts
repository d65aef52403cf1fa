// Publishes a CA's CRL: numbers and signs it from the store, writes crl.pem and the chain-wide crl-bundle.pem atomically.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as x509 from '../core/x509.ts';
import { PkiError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/fs-atomic.ts';
import { pemDecodeAll, pemEncode } from '../core/pem.ts';
import { caPaths } from './ca-dir.ts';
import { assertCaCurrent } from './ca.ts';
import type { LoadedCa, UnlockedCa } from './ca.ts';
import { buildCrl, crlNextUpdate, DEFAULT_CRL_DAYS } from './crl.ts';
import { CaStore } from './store.ts';

/** Store meta keys this module owns. */
export const CRL_META = {
  /** Number of the CRL now in crl.pem: a slower concurrent run never overwrites a newer CRL with an older one. */
  published: 'crl.publishedNumber',
  /** Lifetime in days chosen by the last `certgate crl --days N`; revokes keep using it. */
  days: 'crl.days',
} as const;

export interface PublishOptions {
  /** CRL lifetime; default: the last `--days` given to `certgate crl`, else 7. Stored when given. */
  days?: number;
  /** Exact lifetime in ms (`ca serve --crl-lifetime`), not remembered; wins over `days`. */
  lifetimeMs?: number;
  now?: Date;
  /** Runs first inside the numbering transaction (revoke records the revocation here, atomically with the number). */
  inTransaction?: () => void;
}

export interface PublishResult {
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  /** Revoked serials listed. */
  entries: number;
  crlPath: string;
  bundlePath: string;
  /** False when a concurrent run had already written a newer CRL (which includes everything this one would). */
  written: boolean;
  /** Things the operator should act on (a parent CRL about to lapse, an imported CA whose parents certgate cannot see). */
  warnings: string[];
}

interface ParentCrls {
  pems: string[];
  warnings: string[];
}

function subjectDer(cert: x509.X509Certificate): string {
  return Buffer.from(cert.subjectName.toArrayBuffer()).toString('hex');
}

/**
 * The current CRLs of every parent of `ca`, read from the parent's directory (store meta `ca.parentDir`; its
 * crl-bundle.pem already covers the grandparents). Each parent certificate in chain.pem must be covered by a CRL it
 * signed: OpenSSL and nginx with crl_check_all refuse every client when one CA of the chain has no CRL.
 */
export async function collectParentCrls(ca: LoadedCa, store: CaStore, now: Date): Promise<ParentCrls> {
  const parents = ca.chainPems.slice(1).map((p) => new x509.X509Certificate(p));
  if (parents.length === 0) return { pems: [], warnings: [] };
  const parentDirMeta = store.getMeta('ca.parentDir');
  if (!parentDirMeta) {
    // an imported intermediate: its parents live outside certgate, so their CRLs are the operator's to add
    return {
      pems: [],
      warnings: [`crl-bundle.pem covers only this CA: its parent CA(s) (${parents.map((p) => p.subject).join('; ')}) are not managed by certgate, ` +
        'so add their CRLs to whatever checks client certificates with crl_check_all'],
    };
  }
  const parentDir = resolve(ca.dir, parentDirMeta);
  const parentPaths = caPaths(parentDir);
  const source = existsSync(parentPaths.crlBundle) ? parentPaths.crlBundle : parentPaths.crl;
  if (!existsSync(source)) {
    throw new PkiError('CG_PKI_PARENT_CRL', `the parent CA in ${parentDir} has no CRL (${parentPaths.crl} is missing), so crl-bundle.pem cannot cover the chain`, {
      hint: `run: certgate crl --dir ${parentDir}, then retry`,
    });
  }
  const blocks = pemDecodeAll(readFileSync(source, 'utf8')).filter((b) => b.label === 'X509 CRL');
  const crls = blocks.map((b) => new x509.X509Crl(new Uint8Array(b.der)));
  const pems: string[] = [];
  const warnings: string[] = [];
  for (const parent of parents) {
    const candidates = crls.filter((c) => Buffer.from(c.issuerName.toArrayBuffer()).toString('hex') === subjectDer(parent));
    let found: x509.X509Crl | undefined;
    for (const c of candidates) {
      if (await c.verify({ publicKey: parent.publicKey }).catch(() => false)) found = c;
    }
    if (!found) {
      throw new PkiError('CG_PKI_PARENT_CRL', `${source} holds no CRL signed by the parent CA "${parent.subject}"`, {
        hint: `run: certgate crl --dir ${parentDir}, then retry`,
      });
    }
    if (found.nextUpdate && found.nextUpdate.getTime() < now.getTime()) {
      warnings.push(`the CRL of "${parent.subject}" expired at ${found.nextUpdate.toISOString()}; verifiers refuse every client until it is renewed: run certgate crl --dir ${parentDir}`);
    }
    pems.push(pemEncode('X509 CRL', found.rawData));
  }
  return { pems, warnings };
}

/** Effective CRL lifetime: explicit days (remembered), else the remembered value, else the default. */
function crlDays(store: CaStore, days: number | undefined): number {
  if (days !== undefined) return days;
  const stored = Number(store.getMeta(CRL_META.days));
  return Number.isInteger(stored) && stored > 0 ? stored : DEFAULT_CRL_DAYS;
}

/**
 * Numbers, signs and writes this CA's CRL (every revoked serial in the store) and crl-bundle.pem. Parent CRLs are
 * checked before anything changes, so a missing parent CRL leaves the store untouched (CG_PKI_PARENT_CRL).
 */
export async function publishCrl(ca: UnlockedCa, store: CaStore, opts: PublishOptions = {}): Promise<PublishResult> {
  const now = opts.now ?? new Date();
  assertCaCurrent(ca, now);
  const days = crlDays(store, opts.days);
  const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const nextUpdate = opts.lifetimeMs !== undefined ? new Date(thisUpdate.getTime() + opts.lifetimeMs) : crlNextUpdate(thisUpdate, days);
  const parents = await collectParentCrls(ca, store, now);

  // The number is taken in the same transaction as the change it publishes; a later number always sees more.
  const snapshot = store.transaction(() => {
    opts.inTransaction?.();
    if (opts.days !== undefined) store.setMeta(CRL_META.days, String(opts.days));
    const crlNumber = store.nextCrlNumber();
    const revoked = store.list({ status: 'revoked' });
    return { crlNumber, revoked };
  });

  const pem = await buildCrl({
    issuerCert: ca.cert,
    signingKey: ca.privateKey,
    entries: snapshot.revoked.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt ?? now), reason: r.revocationReason })),
    crlNumber: snapshot.crlNumber,
    thisUpdate,
    nextUpdate,
  });

  const paths = caPaths(ca.dir);
  // Writing under the store's write lock orders concurrent publishers: only a newer number replaces the files.
  // Until this commits, the number taken above stays owed (owedCrlNumber): a run that dies or fails here leaves the
  // change recorded and the CRL owed, and the next run that holds the key publishes it.
  const written = store.transaction(() => {
    const published = BigInt(store.getMeta(CRL_META.published) ?? '0');
    if (snapshot.crlNumber <= published) return false;
    writeCrlFile(paths.crl, pem, ca.dir);
    writeCrlFile(paths.crlBundle, [pem, ...parents.pems].join(''), ca.dir);
    store.setMeta(CRL_META.published, snapshot.crlNumber.toString());
    store.audit('crl.publish', { crlNumber: snapshot.crlNumber.toString(), entries: snapshot.revoked.length, nextUpdate: nextUpdate.toISOString() });
    return true;
  });
  return {
    crlNumber: snapshot.crlNumber,
    thisUpdate,
    nextUpdate,
    entries: snapshot.revoked.length,
    crlPath: paths.crl,
    bundlePath: paths.crlBundle,
    written,
    warnings: parents.warnings,
  };
}

function writeCrlFile(path: string, text: string, dir: string): void {
  try {
    writeFileAtomic(path, text, { mode: 0o644 });
  } catch (err) {
    throw new PkiError('CG_PKI_CRL_WRITE', `cannot write ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the change is recorded in the CA store and its CRL is owed`, {
      cause: err,
      hint: `make ${path} a writable file path again, then run: certgate crl --dir ${dir}`,
    });
  }
}

/**
 * The CRL number a change took (in the same transaction as the change) that no written crl.pem has reached yet, or
 * null. A number is owed when the run that took it stopped before writing the files: killed, or the write failed.
 * Another run can be between the two steps too; publishing then costs one extra CRL number, nothing else.
 */
export function owedCrlNumber(store: CaStore): bigint | null {
  const taken = BigInt(store.getMeta('crlNumber') ?? '0');
  const published = BigInt(store.getMeta(CRL_META.published) ?? '0');
  return taken > published ? taken : null;
}

/** Publishes a fresh CRL when one is owed (see owedCrlNumber); null when nothing was owed. */
export async function publishOwedCrl(ca: UnlockedCa, store: CaStore, opts: { now?: Date } = {}): Promise<PublishResult | null> {
  if (owedCrlNumber(store) === null) return null;
  return publishCrl(ca, store, { now: opts.now });
}

async function withStore<T>(dir: string, fn: (store: CaStore) => Promise<T>): Promise<T> {
  const store = CaStore.open(dir);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/**
 * The first CRL of a new or adopted CA: empty but signed, so crl_check_all verifiers accept its certificates from the
 * start. For an intermediate whose parent has no CRL yet, the parent's is published first (the caller holds that key).
 * Skipped (null) for a CA outside its validity: it cannot sign, and `ca create` of such a CA is a test-only path.
 */
export async function publishInitialCrl(ca: UnlockedCa, parent?: UnlockedCa, now = new Date()): Promise<PublishResult | null> {
  const current = (c: UnlockedCa) => now >= c.cert.notBefore && now <= c.cert.notAfter;
  if (!current(ca)) return null;
  if (parent && current(parent) && !existsSync(caPaths(parent.dir).crl)) await withStore(parent.dir, (s) => publishCrl(parent, s, { now }));
  return withStore(ca.dir, (s) => publishCrl(ca, s, { now }));
}
