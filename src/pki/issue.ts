// Issuing: sign a leaf (client/server) for a public key, record it in the store and write its files, in one transaction.
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import * as x509 from '../core/x509.ts';
import { PkiError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/fs-atomic.ts';
import { issuedFiles } from './ca-dir.ts';
import type { UnlockedCa, Validity } from './ca.ts';
import { assertCaCurrent, childValidity, fingerprintOf, ensureCaDirs, publicKeyOf } from './ca.ts';
import { generateKeyPair, exportPrivateKeyPem, requireKeyType, signingAlgorithm, DEFAULT_KEY_TYPE } from './keys.ts';
import { lookupCert } from './list.ts';
import type { KeyType } from './keys.ts';
import { leafExtensions, leafSubject, profileSans } from './profiles.ts';
import type { LeafProfile, SanInput } from './profiles.ts';
import { certificateSerial, randomSerial } from './serial.ts';
import type { CaStore, CertRecord } from './store.ts';

export const LEAF_DEFAULT_DAYS = 365;
const DAY_MS = 86_400_000;

/** Signs one certificate with the CA. Low level: no store, no files. */
export interface SignParams {
  subject: x509.JsonName | x509.Name;
  publicKey: KeyObject;
  keyType: KeyType;
  profile: LeafProfile;
  /** Record strings, already checked with profileSans. */
  sans: string[];
  validity: Validity;
  serial?: string;
}

export async function signLeaf(ca: UnlockedCa, p: SignParams): Promise<x509.X509Certificate> {
  const spki = new Uint8Array(p.publicKey.export({ type: 'spki', format: 'der' }));
  return x509.X509CertificateGenerator.create({
    serialNumber: p.serial ?? randomSerial(),
    subject: p.subject,
    issuer: ca.cert.subjectName,
    notBefore: p.validity.notBefore,
    notAfter: p.validity.notAfter,
    publicKey: spki,
    signingKey: ca.privateKey,
    signingAlgorithm: signingAlgorithm(ca.keyAlgorithm),
    extensions: await leafExtensions(p.profile, p.keyType, p.sans, spki, ca.cert, ca.baseUrl),
  });
}

/** Check of NAME: it becomes the CN and part of a file name. Pure. */
export function checkName(name: string): string {
  const n = name.trim();
  if (n === '') throw new PkiError('CG_PKI_PROFILE', 'the certificate NAME is empty');
  if (n.length > 64) throw new PkiError('CG_PKI_PROFILE', `NAME "${n.slice(0, 20)}…" is longer than 64 characters (the X.509 limit for a CN)`);
  if (/[\u0000-\u001f\u007f]/.test(n)) throw new PkiError('CG_PKI_PROFILE', 'NAME contains control characters');
  return n;
}

/** Certificates under NAME that are still in force (not revoked, not expired). */
export function liveByName(store: CaStore, name: string, now: Date): CertRecord[] {
  return store.findByName(name).filter((r) => r.status === 'valid' && Date.parse(r.notAfter) > now.getTime());
}

function assertNameFree(store: CaStore, name: string, now: Date): void {
  const live = liveByName(store, name, now);
  if (live.length > 0) {
    throw new PkiError('CG_PKI_DUPLICATE_NAME', `a valid certificate named "${name}" already exists (serial ${live[0].serial})`, {
      hint: `renew it with: certgate cert renew ${name}, revoke it first, or choose another NAME`,
    });
  }
}

export interface RecordInput {
  cert: x509.X509Certificate;
  name: string;
  profile: CertRecord['profile'];
  sans: string[];
  keyPath: string | null;
  now: Date;
}

/** The store record of a freshly signed certificate. Pure. */
export function recordOf(r: RecordInput): CertRecord {
  return {
    serial: certificateSerial(r.cert),
    name: r.name,
    subject: r.cert.subject,
    sans: r.sans,
    profile: r.profile,
    notBefore: r.cert.notBefore.toISOString(),
    notAfter: r.cert.notAfter.toISOString(),
    status: 'valid',
    revokedAt: null,
    revocationReason: null,
    fingerprint: fingerprintOf(r.cert),
    pem: r.cert.toString('pem') + '\n',
    keyPath: r.keyPath,
    issuedAt: r.now.toISOString(),
  };
}

export interface IssueResult {
  record: CertRecord;
  certPem: string;
  /** Absolute path of issued/<NAME>-<SERIAL>.crt. */
  certPath: string;
  /** Absolute path of the key file, when certgate holds the key. */
  keyPath: string | null;
}

export interface CommitParams {
  cert: x509.X509Certificate;
  name: string;
  profile: LeafProfile;
  sans: string[];
  now: Date;
  operation: 'cert.issue' | 'cert.sign' | 'cert.renew';
  /** A freshly generated key to write next to the cert (0600). */
  newKeyPem?: string;
  /** An existing key file (relative to DIR) the cert shares, for renew. */
  existingKeyPath?: string | null;
  /** Renew may leave the old cert in force; issue and sign refuse a second live cert under one NAME. */
  allowLiveName?: boolean;
  auditDetail?: Record<string, unknown>;
}

/** Records the cert and writes its files in one BEGIN IMMEDIATE transaction: either all of it happens or none. */
export function commitIssued(ca: UnlockedCa, store: CaStore, c: CommitParams): IssueResult {
  ensureCaDirs(ca.dir);
  const serial = certificateSerial(c.cert);
  const files = issuedFiles(c.name, serial);
  const keyRel = c.newKeyPem ? files.key : (c.existingKeyPath ?? null);
  const record = recordOf({ cert: c.cert, name: c.name, profile: c.profile, sans: c.sans, keyPath: keyRel, now: c.now });
  store.transaction(() => {
    // checked again under the write lock: a concurrent run may have taken the NAME since we looked
    if (!c.allowLiveName) assertNameFree(store, c.name, c.now);
    if (store.getBySerial(serial)) throw new PkiError('CG_PKI_STORE', `serial ${serial} is already in use; run the command again`);
    store.insertCert(record);
    store.audit(c.operation, { serial, name: c.name, profile: c.profile, subject: record.subject, sans: c.sans,
      notAfter: record.notAfter, fingerprint: record.fingerprint, ...c.auditDetail });
    if (c.newKeyPem) writeFileAtomic(join(ca.dir, files.key), c.newKeyPem, { mode: 0o600, exclusive: true });
    writeFileAtomic(join(ca.dir, files.cert), record.pem!, { mode: 0o644, exclusive: true });
  });
  return { record, certPem: record.pem!, certPath: join(ca.dir, files.cert), keyPath: keyRel === null ? null : join(ca.dir, keyRel) };
}

export interface IssueRequest {
  name: string;
  profile: LeafProfile;
  sans?: SanInput;
  o?: string;
  ous?: string[];
  /** Default 365; refused when it runs past the CA. */
  days?: number;
  keyType?: KeyType;
  now?: Date;
  /** Exact validity (tests: already-expired or soon-expiring certs). Still must lie within the CA's. */
  validity?: Validity;
}

/** `cert issue`: a new key pair and a certificate for it. */
export async function issueCertificate(ca: UnlockedCa, store: CaStore, req: IssueRequest): Promise<IssueResult> {
  const now = req.now ?? new Date();
  const name = checkName(req.name);
  assertCaCurrent(ca, now);
  const sans = profileSans(req.profile, req.sans ?? {});
  const validity = req.validity ?? childValidity(ca.cert, now, req.days ?? LEAF_DEFAULT_DAYS);
  if (validity.notAfter.getTime() > ca.cert.notAfter.getTime()) {
    throw new PkiError('CG_PKI_VALIDITY', `the requested validity runs past the CA's own expiry (${ca.cert.notAfter.toISOString()})`);
  }
  assertNameFree(store, name, now); // fail fast, before spending time on key generation
  const keyType = req.keyType ?? DEFAULT_KEY_TYPE;
  const pair = await generateKeyPair(keyType);
  const cert = await signLeaf(ca, {
    subject: leafSubject(name, req.o, req.ous ?? []), publicKey: pair.publicKey, keyType, profile: req.profile, sans, validity,
  });
  return commitIssued(ca, store, {
    cert, name, profile: req.profile, sans, now, operation: 'cert.issue', newKeyPem: exportPrivateKeyPem(pair.privateKey, null),
    auditDetail: { keyType },
  });
}

export interface RenewRequest {
  /** Serial, or NAME (its newest certificate that is not revoked). */
  ref: string;
  /** Default: as long as the original was valid. */
  days?: number;
  now?: Date;
}

export interface RenewResult extends IssueResult {
  previous: CertRecord;
}

/** Picks the certificate `cert renew REF` means. CG_PKI_SERIAL_NOT_FOUND, CG_PKI_ALREADY_REVOKED, CG_PKI_PROFILE. */
export function certToRenew(store: CaStore, ref: string): CertRecord {
  const { bySerial, byName } = lookupCert(store, ref);
  let rec = bySerial;
  if (!rec) {
    if (byName.length === 0) {
      throw new PkiError('CG_PKI_SERIAL_NOT_FOUND', `no certificate with serial number or name "${ref}" in this CA`, { hint: 'see `certgate cert list`' });
    }
    const live = byName.filter((r) => r.status !== 'revoked');
    // a renewed NAME has several certs in force: renew the newest
    rec = live.sort((a, b) => Date.parse(b.notAfter) - Date.parse(a.notAfter))[0] ?? byName[byName.length - 1];
  }
  if (rec.status === 'revoked') {
    throw new PkiError('CG_PKI_ALREADY_REVOKED', `certificate ${rec.serial} ("${rec.name}") is revoked and will not be renewed`, {
      hint: 'issue a new certificate (with a new key) instead',
    });
  }
  if (rec.profile !== 'client' && rec.profile !== 'server') {
    throw new PkiError('CG_PKI_PROFILE', `certificate ${rec.serial} is a ${rec.profile} certificate; only client and server certificates are renewed`);
  }
  return rec;
}

/** `cert renew`: same public key, subject and SANs; new serial and validity. The old cert stays valid until it expires. */
export async function renewCertificate(ca: UnlockedCa, store: CaStore, req: RenewRequest): Promise<RenewResult> {
  const now = req.now ?? new Date();
  assertCaCurrent(ca, now);
  const previous = certToRenew(store, req.ref);
  const old = new x509.X509Certificate(previous.pem!);
  const publicKey = publicKeyOf(old);
  const keyType = requireKeyType(publicKey, `certificate ${previous.serial}`);
  const days = req.days ?? Math.max(1, (Date.parse(previous.notAfter) - Date.parse(previous.notBefore)) / DAY_MS);
  const validity = childValidity(ca.cert, now, days);
  const profile = previous.profile as LeafProfile;
  const cert = await signLeaf(ca, { subject: old.subjectName, publicKey, keyType, profile, sans: previous.sans, validity });
  const result = commitIssued(ca, store, {
    cert, name: previous.name, profile, sans: previous.sans, now, operation: 'cert.renew', existingKeyPath: previous.keyPath,
    allowLiveName: true, auditDetail: { renewedFrom: previous.serial },
  });
  return { ...result, previous };
}
