// Signing a CSR: verify its self-signature, refuse CA requests and unsupported keys, keep only key + subject + allowed SANs.
import type { KeyObject } from 'node:crypto';
import * as x509 from '../core/x509.ts';
import { PkiError } from '../core/errors.ts';
import { pemDecodeAll } from '../core/pem.ts';
import type { UnlockedCa } from './ca.ts';
import { assertCaCurrent, childValidity, publicKeyOf } from './ca.ts';
import { describeKey, keyTypeOf, KEY_TYPES } from './keys.ts';
import type { KeyType } from './keys.ts';
import { commitIssued, checkName, signLeaf, LEAF_DEFAULT_DAYS } from './issue.ts';
import type { IssueResult } from './issue.ts';
import { PROFILE_SANS, profileSans, sansOf } from './profiles.ts';
import type { LeafProfile, SanInput, SanKind } from './profiles.ts';
import type { CaStore } from './store.ts';

const OID_BASIC_CONSTRAINTS = '2.5.29.19';

export interface ParsedCsr {
  csr: x509.Pkcs10CertificateRequest;
  publicKey: KeyObject;
  keyType: KeyType;
  /** The CN, when the subject has one. */
  commonName: string | undefined;
  /** SANs the CSR asks for, as record strings ("DNS:x", ...). */
  sans: string[];
}

/** Parses and checks a CSR (PEM or DER). Every refusal is CG_PKI_BAD_CSR with a message naming `source`. */
export async function parseCsr(data: Buffer | string, source: string): Promise<ParsedCsr> {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  let der: Uint8Array<ArrayBuffer>;
  if (text.includes('-----BEGIN')) {
    const block = pemDecodeAll(text).find((b) => b.label === 'CERTIFICATE REQUEST' || b.label === 'NEW CERTIFICATE REQUEST');
    if (!block) throw new PkiError('CG_PKI_BAD_CSR', `${source} holds no "CERTIFICATE REQUEST" PEM block`);
    der = Uint8Array.from(block.der);
  } else {
    der = Uint8Array.from(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
    // DER starts with a SEQUENCE tag; anything else is neither form
    if (der[0] !== 0x30) throw new PkiError('CG_PKI_BAD_CSR', `${source} is not a certificate signing request (neither PEM nor DER)`);
  }
  let csr: x509.Pkcs10CertificateRequest;
  let publicKey: KeyObject;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
    publicKey = publicKeyOf(csr);
  } catch (err) {
    throw new PkiError('CG_PKI_BAD_CSR', `${source} is not a valid certificate signing request: ${(err as Error).message}`, { cause: err });
  }
  const keyType = keyTypeOf(publicKey);
  if (!keyType) {
    throw new PkiError('CG_PKI_BAD_CSR', `${source} has an unsupported key (${describeKey(publicKey)})`, {
      hint: `certgate signs ${KEY_TYPES.join(', ')} keys`,
    });
  }
  const valid = await csr.verify().catch(() => false);
  if (!valid) {
    throw new PkiError('CG_PKI_BAD_CSR', `${source} has a bad self-signature: it was altered or not signed by its own key`);
  }
  const bcRaw = csr.getExtension(OID_BASIC_CONSTRAINTS);
  if (bcRaw && new x509.BasicConstraintsExtension(bcRaw.rawData).ca) {
    throw new PkiError('CG_PKI_BAD_CSR', `${source} asks for a CA certificate (basicConstraints CA:true); certgate signs only leaf certificates`, {
      hint: 'create intermediates with: certgate ca create --intermediate --parent DIR',
    });
  }
  // One certificate, one identity: a second CN would pass gateway rules (`cn: alice`) for a name the operator never
  // saw, since the signing message shows one NAME. Multi-valued RDNs ("CN=bob+CN=alice") count too.
  const cns = csr.subjectName.getField('CN');
  if (cns.length > 1) {
    throw new PkiError('CG_PKI_BAD_CSR', `${source} has more than one CN in its subject (${cns.map((c) => `"${c}"`).join(', ')}); certgate signs one identity per certificate`, {
      hint: 'ask for a CSR whose subject has a single CN',
    });
  }
  let sans: string[];
  try {
    sans = sansOf(csr);
  } catch (err) {
    throw new PkiError('CG_PKI_BAD_CSR', `${source} has an unreadable subjectAltName: ${(err as Error).message}`, { cause: err });
  }
  return { csr, publicKey, keyType, commonName: csr.subjectName.getField('CN')[0], sans };
}

const KIND_OF: Record<string, SanKind> = { DNS: 'dns', IP: 'ip', email: 'email', URI: 'uri' };

/** Splits CSR SANs into what the profile takes and what it drops. Pure. */
export function filterCsrSans(profile: LeafProfile, sans: string[]): { kept: SanInput; dropped: string[] } {
  const kept: Required<SanInput> = { dns: [], ip: [], email: [], uri: [] };
  const dropped: string[] = [];
  for (const s of sans) {
    const i = s.indexOf(':');
    const kind = KIND_OF[s.slice(0, i)];
    if (kind && PROFILE_SANS[profile].includes(kind)) kept[kind].push(s.slice(i + 1));
    else dropped.push(s);
  }
  return { kept, dropped };
}

export interface SignCsrRequest {
  data: Buffer | string;
  /** File name for messages. */
  source: string;
  profile: LeafProfile;
  /** Store NAME; default the CSR's CN. */
  name?: string;
  /** Extra SANs from the command line (checked strictly against the profile). */
  sans?: SanInput;
  days?: number;
  now?: Date;
}

export interface SignCsrResult extends IssueResult {
  /** CSR SANs the profile does not carry (reported as a warning). */
  droppedSans: string[];
}

/** `cert sign`: one certificate for the CSR's public key, subject and the SANs the profile allows. */
export async function signCsr(ca: UnlockedCa, store: CaStore, req: SignCsrRequest): Promise<SignCsrResult> {
  const now = req.now ?? new Date();
  assertCaCurrent(ca, now);
  const parsed = await parseCsr(req.data, req.source);
  const rawName = req.name ?? parsed.commonName;
  if (rawName === undefined) {
    throw new PkiError('CG_PKI_BAD_CSR', `${req.source} has no CN in its subject`, { hint: 'name the certificate with --name NAME' });
  }
  const name = checkName(rawName);
  const { kept, dropped } = filterCsrSans(req.profile, parsed.sans);
  const extra = req.sans ?? {};
  // flags are checked strictly (a wrong flag is an error); the CSR's own extra SANs are only dropped
  for (const kind of ['dns', 'ip', 'email', 'uri'] as const) {
    if ((extra[kind] ?? []).length > 0 && !PROFILE_SANS[req.profile].includes(kind)) {
      throw new PkiError('CG_PKI_PROFILE', `${req.profile} certificates do not take --${kind}`);
    }
  }
  const sans = profileSans(req.profile, {
    dns: [...(kept.dns ?? []), ...(extra.dns ?? [])], ip: [...(kept.ip ?? []), ...(extra.ip ?? [])],
    email: [...(kept.email ?? []), ...(extra.email ?? [])], uri: [...(kept.uri ?? []), ...(extra.uri ?? [])],
  });
  const validity = childValidity(ca.cert, now, req.days ?? LEAF_DEFAULT_DAYS);
  const subject = parsed.csr.subjectName.toArrayBuffer().byteLength > 2 ? parsed.csr.subjectName : [{ CN: [name] }];
  const cert = await signLeaf(ca, { subject, publicKey: parsed.publicKey, keyType: parsed.keyType, profile: req.profile, sans, validity });
  const result = commitIssued(ca, store, {
    cert, name, profile: req.profile, sans, now, operation: 'cert.sign', auditDetail: { csr: req.source, droppedSans: dropped },
  });
  return { ...result, droppedSans: dropped };
}
