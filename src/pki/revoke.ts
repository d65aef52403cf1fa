// Revoking: find what SERIAL|NAME|FILE means in this CA, record the revocation(s) and publish the new CRL in one step.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { X509Certificate as NodeX509 } from 'node:crypto';
import { resolve } from 'node:path';
import * as x509 from '../core/x509.ts';
import { PkiError } from '../core/errors.ts';
import type { UnlockedCa } from './ca.ts';
import { caPaths } from './ca-dir.ts';
import { describeCertificate } from './cert-info.ts';
import type { CertDescription } from './cert-info.ts';
import { parseCrl } from './crl.ts';
import type { RevokeReason } from './crl.ts';
import { owedCrlNumber, publishCrl } from './crl-publish.ts';
import type { PublishResult } from './crl-publish.ts';
import { displayStatus, lookupCert, resolveForRevoke } from './list.ts';
import { normalizeSerial } from './serial.ts';
import type { CaStore, CertRecord } from './store.ts';

export interface RevokeRequest {
  /** SERIAL (any spelling, "-7EDC…" for a negative one), NAME, or the path of a certificate file this CA signed. */
  ref: string;
  reason: RevokeReason;
  /** `ref` is a serial number, never a NAME or a FILE (`--serial`). */
  serialOnly?: boolean;
  /** `ref` is a NAME: revoke every valid certificate of it (`--all`), e.g. both after a renew. */
  all?: boolean;
  /** Resolves a FILE ref. */
  cwd: string;
  now?: Date;
  /** Lifetime of the CRL written now, remembered for later runs (default: the last one given, else 7 days). */
  days?: number;
}

/** One certificate a revoke run revoked. */
export interface RevokedCert {
  record: CertRecord;
  /** True when the serial was not in the store and got recorded as profile 'external'. */
  external: boolean;
  /** keyCompromise: the serial of the certificate asked for whose (compromised) public key this one shares. */
  sameKeyAs: string | null;
}

export interface RevokeResult {
  /** The (first) certificate asked for. */
  record: CertRecord;
  /** True when that serial was not in the store and got recorded as profile 'external'. */
  external: boolean;
  /** Every certificate revoked by this run, the ones asked for first, then those sharing their key (keyCompromise). */
  revoked: RevokedCert[];
  /** Things the operator should know, e.g. a bare serial whose key cannot be matched against other certificates. */
  notes: string[];
  crl: PublishResult;
}

/** What a revoke will act on: a record in the store, or a foreign serial to record as 'external'. */
export type RevokeTarget = { kind: 'known'; record: CertRecord } | { kind: 'external'; record: CertRecord };

/** True when `desc` was signed by this CA (same issuer DER and a signature the CA key verifies). */
async function signedByCa(ca: UnlockedCa, pem: string): Promise<boolean> {
  const cert = new x509.X509Certificate(pem);
  const sameName = Buffer.from(cert.issuerName.toArrayBuffer()).equals(Buffer.from(ca.cert.subjectName.toArrayBuffer()));
  return sameName && (await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true }).catch(() => false));
}

function externalRecord(serial: string, now: Date, desc?: CertDescription): CertRecord {
  const at = now.toISOString();
  return {
    serial,
    name: '',
    subject: desc?.subject ?? '',
    sans: desc?.sans ?? [],
    profile: 'external',
    // a bare serial says nothing about validity: the revocation time stands in for both dates
    notBefore: desc?.notBefore ?? at,
    notAfter: desc?.notAfter ?? at,
    status: 'valid',
    revokedAt: null,
    revocationReason: null,
    fingerprint: desc?.fingerprint ?? '',
    pem: desc?.pem ?? null,
    keyPath: null,
    issuedAt: at,
  };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Resolution order: a serial or NAME in the store; then a certificate FILE signed by this CA; then, for an imported
 * CA (which signed certificates before certgate knew it), a bare serial recorded as 'external'. Anything else is
 * CG_PKI_SERIAL_NOT_FOUND: for a CA certgate created, every certificate it signed is in the store, so an unknown
 * serial is a typo, not a reason to publish a made-up entry. `serialOnly` skips the NAME and FILE readings.
 */
export async function resolveRevokeTarget(ca: UnlockedCa, store: CaStore, ref: string, cwd: string, now: Date, serialOnly = false): Promise<RevokeTarget> {
  if (serialOnly) {
    const serial = normalizeSerial(ref);
    if (serial === undefined) throw new PkiError('CG_USAGE', `--serial ${ref} is not a hexadecimal serial number`, { hint: 'e.g. 4F1A0C or -7EDC0A (a negative serial, as openssl prints it)' });
    const rec = store.getBySerial(serial);
    if (rec) return { kind: 'known', record: rec };
    if (store.getMeta('ca.origin') === 'imported') return { kind: 'external', record: externalRecord(serial, now) };
    throw new PkiError('CG_PKI_SERIAL_NOT_FOUND', `no certificate with serial number ${serial} in this CA`, { hint: 'see `certgate cert list`' });
  }
  const known = resolveForRevoke(store, ref, now);
  if (known) return { kind: 'known', record: known };
  const path = resolve(cwd, ref);
  if (isFile(path)) {
    const desc = describeCertificate(readFileSync(path));
    if (!(await signedByCa(ca, desc.pem))) {
      throw new PkiError('CG_PKI_BAD_CERT', `${ref} was not issued by this CA (${ca.cert.subject})`, { hint: 'revoke it with the CA that issued it (--dir)' });
    }
    const rec = store.getBySerial(desc.serial);
    return rec ? { kind: 'known', record: rec } : { kind: 'external', record: externalRecord(desc.serial, now, desc) };
  }
  const serial = normalizeSerial(ref);
  if (serial !== undefined && store.getMeta('ca.origin') === 'imported') {
    return { kind: 'external', record: externalRecord(serial, now) };
  }
  throw new PkiError('CG_PKI_SERIAL_NOT_FOUND', `no certificate with serial number or name "${ref}" in this CA`, {
    hint: existsSync(path) ? `${ref} is not a certificate file` : 'see `certgate cert list`; a certificate signed outside certgate can be revoked by passing its file',
  });
}

/** SubjectPublicKeyInfo DER of a certificate: the key a keyCompromise revocation is really about. */
function spkiOf(pem: string): Buffer {
  return new NodeX509(pem).publicKey.export({ type: 'spki', format: 'der' });
}

/** Every certificate still valid at `now` (not revoked, not expired) whose public key is `spki`. */
function sameKeyValid(store: CaStore, spki: Buffer, now: Date): CertRecord[] {
  return store.list({ status: 'valid', now }).filter((r) => r.pem !== null && spkiOf(r.pem).equals(spki));
}

/** `--all NAME`: every certificate of NAME that is still valid (not revoked, not expired). */
function allOfName(store: CaStore, name: string, now: Date): CertRecord[] {
  const recs = store.findByName(name);
  if (recs.length === 0) {
    throw new PkiError('CG_PKI_SERIAL_NOT_FOUND', `no certificate named "${name}" in this CA`, { hint: '--all takes a NAME; see `certgate cert list`' });
  }
  const valid = recs.filter((r) => displayStatus(r, now) === 'valid');
  if (valid.length > 0) return valid;
  if (recs.every((r) => r.status === 'revoked')) {
    const last = recs[recs.length - 1];
    throw new PkiError('CG_PKI_ALREADY_REVOKED', `every certificate named "${name}" is already revoked (latest: ${last.serial} at ${last.revokedAt})`);
  }
  throw new PkiError('CG_PKI_SERIAL_NOT_FOUND', `no certificate named "${name}" is valid any more (the others expired or are revoked)`, { hint: 'see `certgate cert list`' });
}

/**
 * keyCompromise of a NAME whose valid certificates all share one key (a renewed certificate: same key, new serial)
 * is not ambiguous: the key is what is compromised, so every one of them goes.
 */
function sameKeyNamesake(store: CaStore, ref: string, now: Date): CertRecord[] | undefined {
  const valid = store.findByName(ref).filter((r) => displayStatus(r, now) === 'valid');
  if (valid.length < 2 || valid.some((r) => r.pem === null)) return undefined;
  const first = spkiOf(valid[0].pem!);
  return valid.every((r) => spkiOf(r.pem!).equals(first)) ? valid : undefined;
}

async function resolveTargets(ca: UnlockedCa, store: CaStore, req: RevokeRequest, now: Date): Promise<RevokeTarget[]> {
  if (req.all) return allOfName(store, req.ref, now).map((record) => ({ kind: 'known', record }));
  if (req.reason === 'keyCompromise' && !req.serialOnly && lookupCert(store, req.ref).bySerial === undefined) {
    const namesakes = sameKeyNamesake(store, req.ref, now);
    if (namesakes) return namesakes.map((record) => ({ kind: 'known', record }));
  }
  return [await resolveRevokeTarget(ca, store, req.ref, req.cwd, now, req.serialOnly)];
}

/** The revoked records `ref` stands for (to republish when a CRL never listed them). */
function revokedRecordsFor(store: CaStore, req: RevokeRequest): CertRecord[] {
  const { bySerial, byName } = lookupCert(store, req.ref);
  if (bySerial) return bySerial.status === 'revoked' ? [bySerial] : [];
  return req.serialOnly ? [] : byName.filter((r) => r.status === 'revoked');
}

/** True when DIR/crl.pem exists, parses and lists every one of `serials`. */
function crlListsAll(ca: UnlockedCa, serials: string[]): boolean {
  try {
    const listed = new Set(parseCrl(readFileSync(caPaths(ca.dir).crl, 'utf8')).entries.map((e) => e.serial));
    return serials.every((s) => listed.has(s));
  } catch {
    return false;
  }
}

/**
 * A revoke of something already revoked still makes sure the revocation is published: when a CRL is owed (an earlier
 * run stopped between recording and writing) or crl.pem does not list it, a fresh CRL is written before the
 * CG_PKI_ALREADY_REVOKED error, and the error says so.
 */
async function publishForAlreadyRevoked(ca: UnlockedCa, store: CaStore, req: RevokeRequest, err: PkiError, now: Date, records: CertRecord[]): Promise<PkiError> {
  const serials = records.map((r) => r.serial);
  if (serials.length === 0 || (owedCrlNumber(store) === null && crlListsAll(ca, serials))) return err;
  const crl = await publishCrl(ca, store, { now, days: req.days });
  return new PkiError('CG_PKI_ALREADY_REVOKED', `${err.message}; its CRL had not been published (an earlier run stopped before writing it), so it is now: ${crl.crlPath}, number ${crl.crlNumber}`, {
    cause: err,
    hint: 'nothing else to do: the revocation is in force',
  });
}

/**
 * Revokes and publishes: every store change and the CRL number share one transaction; crl.pem/crl-bundle.pem follow
 * (owed until written, see owedCrlNumber). `keyCompromise` also revokes every other valid certificate with the same
 * public key (after `cert renew` the old and the new certificate share it), in the same transaction and CRL.
 */
export async function revokeCertificate(ca: UnlockedCa, store: CaStore, req: RevokeRequest): Promise<RevokeResult> {
  const now = req.now ?? new Date();
  let targets: RevokeTarget[];
  try {
    targets = await resolveTargets(ca, store, req, now);
  } catch (err) {
    if (err instanceof PkiError && err.code === 'CG_PKI_ALREADY_REVOKED') throw await publishForAlreadyRevoked(ca, store, req, err, now, revokedRecordsFor(store, req));
    throw err;
  }
  const notes: string[] = [];
  const done = targets.find((t) => t.kind === 'known' && t.record.status === 'revoked');
  if (done) {
    const err = new PkiError('CG_PKI_ALREADY_REVOKED', `certificate ${done.record.serial} was already revoked at ${done.record.revokedAt}`);
    // revoked earlier for another reason, its key compromised now: what still shares that key must go
    if (!(req.reason === 'keyCompromise' && done.record.pem !== null && sameKeyValid(store, spkiOf(done.record.pem), now).length > 0)) {
      throw await publishForAlreadyRevoked(ca, store, req, err, now, [done.record]);
    }
    notes.push(`${err.message} (${done.record.revocationReason ?? 'unspecified'}); revoking the certificates that share its key`);
    targets = [];
  }
  const sources = done ? [done] : targets;
  const keys = req.reason === 'keyCompromise' ? sources.flatMap((t) => {
    if (t.record.pem !== null) return [{ serial: t.record.serial, spki: spkiOf(t.record.pem) }];
    notes.push(`certgate has no certificate file for ${t.record.serial}, so other certificates with its key cannot be found; revoke them by serial`);
    return [];
  }) : [];
  const revoked: RevokedCert[] = [];
  const crl = await publishCrl(ca, store, {
    now,
    days: req.days,
    inTransaction: () => {
      revoked.length = 0;
      for (const t of targets) {
        if (t.kind === 'external') store.insertCert(t.record);
        // markRevoked re-checks inside the transaction: a concurrent revoke of the same serial fails here, not twice
        store.markRevoked(t.record.serial, req.reason, now);
        store.audit('cert.revoke', { serial: t.record.serial, name: t.record.name, reason: req.reason, external: t.kind === 'external', ...(req.all ? { all: true } : {}) });
        revoked.push({ record: t.record, external: t.kind === 'external', sameKeyAs: null });
      }
      // under the write lock: every certificate still valid now that shares a compromised key
      for (const k of keys) {
        for (const rec of sameKeyValid(store, k.spki, now)) {
          if (revoked.some((r) => r.record.serial === rec.serial)) continue;
          store.markRevoked(rec.serial, req.reason, now);
          store.audit('cert.revoke', { serial: rec.serial, name: rec.name, reason: req.reason, external: false, sameKeyAs: k.serial });
          revoked.push({ record: rec, external: false, sameKeyAs: k.serial });
        }
      }
      if (revoked.length === 0) throw new PkiError('CG_PKI_ALREADY_REVOKED', notes[0] ?? 'nothing left to revoke');
    },
  });
  const fresh = revoked.map((r) => {
    const record = store.getBySerial(r.record.serial);
    if (!record) throw new PkiError('CG_PKI_STORE', `serial ${r.record.serial} vanished from the store during revocation`);
    return { ...r, record };
  });
  return { record: done?.record ?? fresh[0].record, external: fresh[0].external && !done, revoked: fresh, notes, crl };
}
