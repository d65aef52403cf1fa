// What `ca serve` answers for one CA: its published files read from DIR once per change, with validators and CRL facts.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { PkiError } from '../../core/errors.ts';
import { pemDecodeAll } from '../../core/pem.ts';
import { caPaths } from '../ca-dir.ts';
import { PUBLISHED_FILES } from '../ca-url.ts';
import { parseCrl } from '../crl.ts';

export type PublishedFile = (typeof PUBLISHED_FILES)[keyof typeof PUBLISHED_FILES];

/** One response body and its validators (docs/crl-distribution.md, "Response headers"). */
export interface Representation {
  body: Buffer;
  contentType: string;
  /** Strong ETag, quoted: "<crlNumber>-<hash16>" for CRLs, "<hash16>" for certificates. */
  etag: string;
  lastModified: Date;
  /** Set for the three CRL representations. */
  crl?: { number: bigint; nextUpdate: Date | undefined };
}

/** Everything served for one CA at one moment. Immutable: a change builds a new one. */
export interface PublishedCa {
  files: ReadonlyMap<PublishedFile, Representation>;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
}

const PEM = 'application/x-pem-file';

function hash16(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 16);
}

/** Whole seconds, as HTTP dates carry them. */
function seconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

function readRequired(path: string, what: string): Buffer {
  if (!existsSync(path)) {
    throw new PkiError('CG_PKI_NO_CA', `${path} is missing, so ${what} cannot be served`, { hint: 'run: certgate crl --dir ' + path.replace(/\/[^/]+$/, '') });
  }
  return readFileSync(path);
}

/**
 * A cheap fingerprint of the files that make up what is served (mtime, size, inode of each): the 1 s poll compares
 * it to notice changes fs.watch missed. Atomic writes replace the inode, so a same-size rewrite in the same
 * millisecond is still seen.
 */
export function publishedSignature(dir: string): string {
  const p = caPaths(dir);
  return [p.cert, p.chain, p.crl, p.crlBundle].map((f) => {
    try {
      const s = statSync(f, { bigint: true });
      return `${s.ino}:${s.size}:${s.mtimeNs}`;
    } catch {
      return '-';
    }
  }).join('|');
}

/** Reads DIR's ca.crt, chain.pem, crl.pem and crl-bundle.pem into the representations `ca serve` answers with. */
export function readPublished(dir: string): PublishedCa {
  const p = caPaths(dir);
  const certPem = readRequired(p.cert, 'ca.crt');
  const certBlock = pemDecodeAll(certPem.toString('utf8')).find((b) => b.label === 'CERTIFICATE');
  const certDer = certBlock ? Buffer.from(certBlock.der) : certPem;
  const chain = existsSync(p.chain) ? readFileSync(p.chain) : certPem;
  const crlPem = readRequired(p.crl, 'the CRL');
  const crlBlock = pemDecodeAll(crlPem.toString('utf8')).find((b) => b.label === 'X509 CRL');
  if (!crlBlock) throw new PkiError('CG_PKI_BAD_CERT', `${p.crl} holds no PEM CRL`, { hint: `run: certgate crl --dir ${dir}` });
  const crlDer = Buffer.from(crlBlock.der);
  const bundle = existsSync(p.crlBundle) ? readFileSync(p.crlBundle) : crlPem;
  const summary = parseCrl(new Uint8Array(crlDer));
  const number = summary.crlNumber ?? 0n;
  const thisUpdate = seconds(summary.thisUpdate);
  const certTime = seconds(statSync(p.cert).mtime);
  const chainTime = existsSync(p.chain) ? seconds(statSync(p.chain).mtime) : certTime;
  const crlFacts = { number, nextUpdate: summary.nextUpdate };
  const crlRep = (body: Buffer, contentType: string): Representation => ({
    body, contentType, etag: `"${number}-${hash16(body)}"`, lastModified: thisUpdate, crl: crlFacts,
  });
  const files = new Map<PublishedFile, Representation>([
    [PUBLISHED_FILES.caCert, { body: certDer, contentType: 'application/pkix-cert', etag: `"${hash16(certDer)}"`, lastModified: certTime }],
    [PUBLISHED_FILES.chain, { body: chain, contentType: PEM, etag: `"${hash16(chain)}"`, lastModified: chainTime }],
    [PUBLISHED_FILES.crlPem, crlRep(crlPem, PEM)],
    [PUBLISHED_FILES.crlDer, crlRep(crlDer, 'application/pkix-crl')],
    [PUBLISHED_FILES.crlBundle, crlRep(bundle, PEM)],
  ]);
  return { files, crlNumber: number, thisUpdate: summary.thisUpdate, nextUpdate: summary.nextUpdate };
}
