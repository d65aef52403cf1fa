// Setting a CA up: create a root or an intermediate (signed by a parent certgate CA), or adopt an openssl-made CA.
import { existsSync, readFileSync } from 'node:fs';
import * as x509 from '../core/x509.ts';
import { PkiError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/fs-atomic.ts';
import { splitCertificates } from '../core/pem.ts';
import { caPaths } from './ca-dir.ts';
import { normalizeBaseUrl, writeBaseUrl } from './ca-url.ts';
import type { LoadedCa, UnlockedCa, Validity } from './ca.ts';
import {
  BACKDATE_MS, CA_DEFAULT_DAYS, assertCaCurrent, assertIsCaCert, basicConstraintsOf, childValidity, ensureCaDirs, loadCa,
  parseCertificate, publicKeyOf, unlockCa,
} from './ca.ts';
import { generateKeyPair, exportPrivateKeyPem, importPrivateKeyPem, checkKeyFilePermissions, isEncryptedKeyPem, keysMatch,
  requireKeyType, signingAlgorithm, toCryptoKey, DEFAULT_KEY_TYPE } from './keys.ts';
import type { KeyType } from './keys.ts';
import { caExtensions } from './profiles.ts';
import { randomSerial } from './serial.ts';
import { CaStore } from './store.ts';
import { recordOf } from './issue.ts';
import { publishInitialCrl } from './crl-publish.ts';

export interface CreateCaOptions {
  dir: string;
  /** The CA's common name, e.g. "Example CA". */
  name: string;
  keyType?: KeyType;
  /** Default 3650; an intermediate without --days is cut to its parent's expiry. */
  days?: number;
  /** null = unencrypted key (the CLI demands --no-passphrase for that). */
  passphrase: string | null;
  /** Set for an intermediate. */
  parent?: UnlockedCa;
  /** basicConstraints pathLenConstraint of an intermediate (default 0: it may sign only leaves). */
  pathLength?: number;
  now?: Date;
  /** Exact validity (tests: expired CAs). */
  validity?: Validity;
  /** Where `certgate ca serve` will publish this CA (DIR/base-url.txt); certificates it signs point there. */
  baseUrl?: string;
}

function assertNoCa(dir: string): void {
  const p = caPaths(dir);
  if (existsSync(p.cert) || existsSync(p.key)) {
    throw new PkiError('CG_PKI_CA_EXISTS', `${dir} already holds a CA`, { hint: 'choose another --dir; certgate never overwrites a CA' });
  }
}

/** Writes ca.key (0600, never replacing), ca.crt and chain.pem, and initializes the store. */
function writeCaFiles(dir: string, keyPem: string, certPem: string, chainPems: string[], meta: Record<string, string>, baseUrl?: string): void {
  ensureCaDirs(dir);
  const p = caPaths(dir);
  if (baseUrl) writeBaseUrl(dir, baseUrl);
  writeFileAtomic(p.key, keyPem, { mode: 0o600, exclusive: true });
  writeFileAtomic(p.cert, certPem, { mode: 0o644 });
  writeFileAtomic(p.chain, chainPems.join(''), { mode: 0o644 });
  const store = CaStore.open(dir);
  try {
    store.transaction(() => {
      for (const [k, v] of Object.entries(meta)) store.setMeta(k, v);
      store.audit(meta['ca.origin'] === 'imported' ? 'ca.import' : 'ca.create', { ...meta });
    });
  } finally {
    store.close();
  }
}

/** The pathLenConstraint a child CA may have under `parent` (CG_PKI_PROFILE when the parent may not sign CAs). Pure. */
export function childPathLength(parent: x509.X509Certificate, requested: number | undefined): number {
  const parentLen = basicConstraintsOf(parent)?.pathLength;
  const want = requested ?? 0;
  if (!Number.isInteger(want) || want < 0) throw new PkiError('CG_PKI_PROFILE', `--pathlen must be a whole number ≥ 0 (got ${want})`);
  if (parentLen !== undefined && want >= parentLen) {
    throw new PkiError('CG_PKI_PROFILE', parentLen === 0
      ? 'the parent CA has pathlen 0: it may sign only leaf certificates, not intermediates'
      : `the parent CA allows at most --pathlen ${parentLen - 1}`);
  }
  return want;
}

/** `ca create`: a root (self-signed) or an intermediate signed by `parent`, whose store records it. */
export async function createCa(o: CreateCaOptions): Promise<LoadedCa> {
  const now = o.now ?? new Date();
  const name = o.name.trim();
  if (name === '') throw new PkiError('CG_PKI_PROFILE', 'the CA --name is empty');
  assertNoCa(o.dir);
  const baseUrl = o.baseUrl === undefined ? undefined : normalizeBaseUrl(o.baseUrl);
  const keyType = o.keyType ?? DEFAULT_KEY_TYPE;
  let validity: Validity;
  let pathLength: number | undefined;
  if (o.parent) {
    assertCaCurrent(o.parent, now);
    pathLength = childPathLength(o.parent.cert, o.pathLength);
    validity = o.validity ?? childValidity(o.parent.cert, now, o.days ?? CA_DEFAULT_DAYS, o.days === undefined);
  } else {
    const days = o.days ?? CA_DEFAULT_DAYS;
    if (!Number.isFinite(days) || days <= 0) throw new PkiError('CG_PKI_VALIDITY', `--days must be a positive number (got ${days})`);
    validity = o.validity ?? { notBefore: new Date(now.getTime() - BACKDATE_MS), notAfter: new Date(now.getTime() + days * 86_400_000) };
  }
  const pair = await generateKeyPair(keyType);
  const spki = new Uint8Array(pair.publicKey.export({ type: 'spki', format: 'der' }));
  const subject: x509.JsonName = [{ CN: [name] }];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: o.parent ? o.parent.cert.subjectName : subject,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    publicKey: spki,
    signingKey: o.parent ? o.parent.privateKey : toCryptoKey(pair.privateKey, keyType),
    signingAlgorithm: signingAlgorithm(o.parent ? o.parent.keyAlgorithm : keyType),
    extensions: await caExtensions(spki, pathLength, o.parent?.cert, o.parent?.baseUrl),
  });
  const certPem = cert.toString('pem') + '\n';
  const chainPems = [certPem, ...(o.parent?.chainPems ?? [])];
  if (o.parent) {
    // the parent records what it signed first: an intermediate that exists but is not in its parent's store would be
    // invisible to the parent's revocation
    const parentStore = CaStore.open(o.parent.dir);
    try {
      parentStore.transaction(() => {
        const rec = recordOf({ cert, name, profile: 'ca', sans: [], keyPath: null, now });
        parentStore.insertCert(rec);
        parentStore.audit('ca.issue-intermediate', { serial: rec.serial, name, dir: o.dir, subject: rec.subject, notAfter: rec.notAfter });
      });
    } finally {
      parentStore.close();
    }
  }
  writeCaFiles(o.dir, exportPrivateKeyPem(pair.privateKey, o.passphrase), certPem, chainPems, {
    'ca.name': name, 'ca.keyType': keyType, 'ca.origin': 'created', 'ca.createdAt': now.toISOString(),
    ...(o.parent ? { 'ca.parentDir': o.parent.dir } : {}),
    'ca.keyEncrypted': String(o.passphrase !== null),
  }, baseUrl);
  const loaded = loadCa(o.dir);
  // the first (empty) CRL, so crl_check_all verifiers accept this CA's certificates from day one; a parent chain
  // without CRLs is reported later by `certgate crl` / `cert revoke`, with the fix
  await publishInitialCrl({ ...loaded, keyObject: pair.privateKey, privateKey: toCryptoKey(pair.privateKey, keyType) }, o.parent, now)
    .catch((err: unknown) => { if (!(err instanceof PkiError && err.code === 'CG_PKI_PARENT_CRL')) throw err; });
  return loaded;
}

export interface ImportCaOptions {
  dir: string;
  certPath: string;
  keyPath: string;
  /** The CA's parents (issuer first), for an intermediate made with openssl. */
  chainPath?: string;
  /** Decrypts the given key when it is encrypted, and encrypts DIR/ca.key; null = keep it unencrypted. */
  passphrase: string | null;
  now?: Date;
  /** As for createCa. */
  baseUrl?: string;
}

export interface ImportResult {
  ca: UnlockedCa;
  warnings: string[];
}

function readInput(path: string, what: string): string {
  if (!existsSync(path)) throw new PkiError('CG_PKI_BAD_CERT', `${what} ${path} does not exist`);
  return readFileSync(path, 'utf8');
}

/** `ca import`: adopts a CA certificate + key made elsewhere; from then on issue/sign/revoke/crl work on it. */
export async function importCa(o: ImportCaOptions): Promise<ImportResult> {
  assertNoCa(o.dir);
  const baseUrl = o.baseUrl === undefined ? undefined : normalizeBaseUrl(o.baseUrl);
  const warnings: string[] = [];
  const certPem = splitCertificates(readInput(o.certPath, '--cert'))[0];
  if (!certPem) throw new PkiError('CG_PKI_BAD_CERT', `--cert ${o.certPath} holds no PEM certificate`);
  const cert = parseCertificate(certPem, o.certPath);
  assertIsCaCert(cert, o.certPath);
  const keyType = requireKeyType(publicKeyOf(cert), o.certPath);
  checkKeyFilePermissions(o.keyPath);
  const keyText = readInput(o.keyPath, '--key');
  if (isEncryptedKeyPem(keyText) && o.passphrase === null) {
    throw new PkiError('CG_PKI_BAD_PASSPHRASE', `${o.keyPath} is encrypted`, { hint: 'pass its passphrase with --passphrase-file or --passphrase-env' });
  }
  const key = importPrivateKeyPem(keyText, o.passphrase, o.keyPath);
  if (!keysMatch(key, publicKeyOf(cert))) throw new PkiError('CG_PKI_BAD_KEY', `${o.keyPath} does not belong to ${o.certPath}`);
  const parents = o.chainPath ? splitCertificates(readInput(o.chainPath, '--chain')) : [];
  if (o.chainPath && parents.length === 0) throw new PkiError('CG_PKI_BAD_CERT', `--chain ${o.chainPath} holds no PEM certificates`);
  const chainCerts = [cert, ...parents.map((p, i) => parseCertificate(p, `${o.chainPath} (certificate ${i + 1})`))];
  for (let i = 0; i + 1 < chainCerts.length; i++) {
    const ok = await chainCerts[i].verify({ publicKey: chainCerts[i + 1].publicKey, signatureOnly: true }).catch(() => false);
    if (!ok) {
      throw new PkiError('CG_PKI_BAD_CERT', `--chain ${o.chainPath}: certificate ${i + 1} did not sign ${i === 0 ? 'the CA certificate' : `certificate ${i}`}`, {
        hint: 'list the parents issuer first, root last',
      });
    }
  }
  const selfSigned = cert.subject === cert.issuer && (await cert.verify({ signatureOnly: true }).catch(() => false));
  if (!selfSigned && parents.length === 0) warnings.push(`${o.certPath} is not self-signed and no --chain was given: chain.pem holds only this CA`);
  const now = o.now ?? new Date();
  if (now > cert.notAfter) warnings.push(`the CA certificate expired on ${cert.notAfter.toISOString()}: it cannot sign until replaced`);
  writeCaFiles(o.dir, exportPrivateKeyPem(key, o.passphrase), certPem, [certPem, ...parents], {
    'ca.name': cert.subjectName.getField('CN')[0] ?? cert.subject, 'ca.keyType': keyType, 'ca.origin': 'imported',
    'ca.createdAt': now.toISOString(), 'ca.keyEncrypted': String(o.passphrase !== null),
  }, baseUrl);
  const ca = await unlockCa(loadCa(o.dir), o.passphrase);
  const crl = await publishInitialCrl(ca, undefined, now);
  if (crl) warnings.push(...crl.warnings);
  return { ca, warnings };
}
