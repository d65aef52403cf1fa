// Revoking: find what SERIAL|NAME|FILE means in this CA, record the revocation and publish the new CRL in one step.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import * as x509 from '../core/x509.ts';
import { PkiError } from '../core/errors.ts';
import type { UnlockedCa } from './ca.ts';
import { describeCertificate } from './cert-info.ts';
import type { CertDescription } from './cert-info.ts';
import type { RevokeReason } from './crl.ts';
import { publishCrl } from './crl-publish.ts';
import type { PublishResult } from './crl-publish.ts';
import { resolveForRevoke } from './list.ts';
import { normalizeSerial } from './serial.ts';
import type { CaStore, CertRecord } from './store.ts';

export interface RevokeRequest {
  /** SERIAL (any spelling, "-7EDC…" for a negative one), NAME, or the path of a certificate file this CA signed. */
  ref: string;
  reason: RevokeReason;
  /** `ref` is a serial number, never a NAME or a FILE (`--serial`). */
  serialOnly?: boolean;
  /** Resolves a FILE ref. */
  cwd: string;
  now?: Date;
  /** Lifetime of the CRL written now, remembered for later runs (default: the last one given, else 7 days). */
  days?: number;
}

export interface RevokeResult {
  record: CertRecord;
  /** True when the serial was not in the store and got recorded as profile 'external'. */
  external: boolean;
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

/** Revokes and publishes: the store change and the CRL number share one transaction; crl.pem/crl-bundle.pem follow. */
export async function revokeCertificate(ca: UnlockedCa, store: CaStore, req: RevokeRequest): Promise<RevokeResult> {
  const now = req.now ?? new Date();
  const target = await resolveRevokeTarget(ca, store, req.ref, req.cwd, now, req.serialOnly);
  const serial = target.record.serial;
  if (target.kind === 'known' && target.record.status === 'revoked') {
    throw new PkiError('CG_PKI_ALREADY_REVOKED', `certificate ${serial} was already revoked at ${target.record.revokedAt}`);
  }
  const crl = await publishCrl(ca, store, {
    now,
    days: req.days,
    inTransaction: () => {
      if (target.kind === 'external') store.insertCert(target.record);
      // markRevoked re-checks inside the transaction: a concurrent revoke of the same serial fails here, not twice
      store.markRevoked(serial, req.reason, now);
      store.audit('cert.revoke', { serial, name: target.record.name, reason: req.reason, external: target.kind === 'external' });
    },
  });
  const record = store.getBySerial(serial);
  if (!record) throw new PkiError('CG_PKI_STORE', `serial ${serial} vanished from the store during revocation`);
  return { record, external: target.kind === 'external', crl };
}
