// Our side of the handshake: a client certificate and key (PEM/DER files, or a PKCS#12 bundle), checked before use.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { Socket } from 'node:net';
import { TLSSocket, createSecureContext } from 'node:tls';
import { PkiError } from '../core/errors.ts';
import { isPem, splitCertificates } from '../core/pem.ts';
import { certFacts } from './certs.ts';
import type { CertFacts } from './certs.ts';

/** What the CLI read from the files it was given; the labels name the flags and files in messages. */
export type CredentialInput =
  | { kind: 'pem'; cert: Buffer; key: Buffer; certLabel: string; keyLabel: string }
  | { kind: 'pfx'; pfx: Buffer; passphrase: string; label: string };

/** A credential ready for tls.connect, with the facts of the certificates it presents (leaf first). */
export interface ClientCredential {
  tls: { cert: string; key: string } | { pfx: Buffer; passphrase: string };
  chain: CertFacts[];
}

function certificatesOf(data: Buffer, label: string): string[] {
  if (isPem(data)) {
    const pems = splitCertificates(data.toString('utf8'));
    if (pems.length > 0) return pems;
  } else {
    try {
      return [new X509Certificate(data).toString()];
    } catch {
      // fall through to the error below
    }
  }
  throw new PkiError('CG_PKI_BAD_CERT', `${label} holds no certificate`, { hint: 'pass the PEM (or DER) client certificate file' });
}

function fromPem(input: Extract<CredentialInput, { kind: 'pem' }>): ClientCredential {
  const pems = certificatesOf(input.cert, input.certLabel);
  let key: KeyObject;
  try {
    key = createPrivateKey(input.key);
  } catch (err) {
    throw new PkiError('CG_PKI_BAD_KEY', `${input.keyLabel} is not a readable private key`, {
      cause: err, hint: 'pass an unencrypted PEM key, or use --p12 with --password-file',
    });
  }
  const leaf = new X509Certificate(pems[0]);
  if (key.type !== 'private' || !leaf.checkPrivateKey(key)) {
    throw new PkiError('CG_PKI_BAD_KEY', `${input.keyLabel} does not match the certificate in ${input.certLabel}`, {
      hint: 'pass the key that was made together with that certificate',
    });
  }
  return { tls: { cert: pems.join(''), key: key.export({ type: 'pkcs8', format: 'pem' }) as string }, chain: pems.map((p) => certFacts(new X509Certificate(p).raw)) };
}

function fromPfx(input: Extract<CredentialInput, { kind: 'pfx' }>): ClientCredential {
  let context;
  try {
    context = createSecureContext({ pfx: input.pfx, passphrase: input.passphrase });
  } catch (err) {
    const text = (err as Error).message;
    if (/mac verify|bad decrypt|invalid password/i.test(text)) {
      throw new PkiError('CG_PKI_BAD_PASSWORD', `the password does not open ${input.label}`, { cause: err, hint: 'check --password-file' });
    }
    if (/key values mismatch/i.test(text)) {
      throw new PkiError('CG_PKI_BAD_KEY', `the key in ${input.label} does not match its certificate`, { cause: err });
    }
    throw new PkiError('CG_PKI_BAD_CERT', `${input.label} is not a usable PKCS#12 file: ${text}`, { cause: err });
  }
  // Node loads the bundle but does not hand the certificate back; an unconnected TLS socket on that context does.
  const probe = new TLSSocket(new Socket(), { secureContext: context });
  try {
    const leaf = probe.getCertificate();
    if (!leaf || !('raw' in leaf) || !leaf.raw) throw new PkiError('CG_PKI_BAD_CERT', `${input.label} holds no certificate`);
    return { tls: { pfx: input.pfx, passphrase: input.passphrase }, chain: [certFacts(leaf.raw)] };
  } finally {
    probe.destroy();
  }
}

/** Reads and checks a credential: the key must match the certificate (CG_PKI_BAD_KEY), a .p12 must open. */
export function loadCredential(input: CredentialInput): ClientCredential {
  return input.kind === 'pem' ? fromPem(input) : fromPfx(input);
}
