// Test helper: a throwaway CA driven entirely by the openssl CLI (`openssl req`/`openssl ca`), so a bug shared by
// certgate's issuer and its verifier cannot hide. Everything lives in a mkdtemp dir; keys never leave it.
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProcess } from './cli.ts';

export interface OsslCert {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

export interface OsslCa extends OsslCert {
  dir: string;
  name: string;
  /** The CA's chain up to the root (this CA first), PEM. */
  chainPem: string;
}

export interface LeafOptions {
  /** Subject in openssl -subj form, e.g. "/O=Acme/OU=ops/CN=alice". */
  subj: string;
  /** Extended key usage: clientAuth (default), serverAuth, "none" (no EKU extension) or a raw list. */
  eku?: 'clientAuth' | 'serverAuth' | 'none' | string;
  /** subjectAltName value, e.g. "DNS:localhost,IP:127.0.0.1". */
  san?: string;
  /** authorityInfoAccess value, e.g. "OCSP;URI:http://127.0.0.1:8888" (a responder for OCSP stapling tests). */
  aia?: string;
  /** openssl ca dates, YYYYMMDDHHMMSSZ. */
  startdate?: string;
  enddate?: string;
  days?: number;
  /** File stem inside the CA dir. */
  name: string;
  /**
   * An exact serial for `openssl x509 -req -set_serial`, e.g. "-0x7EDC1234" (a negative serial, as old CAs made
   * them) or "0x8123EDCC"; without it `openssl ca` numbers the certificate from the CA's serial file.
   */
  serial?: string;
}

async function ossl(args: string[], cwd?: string): Promise<string> {
  const r = await runProcess('openssl', args, { cwd, timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

function caConfig(dir: string): string {
  return `[ ca ]
default_ca = CA_default
[ CA_default ]
dir = ${dir}
database = ${dir}/index.txt
new_certs_dir = ${dir}/newcerts
serial = ${dir}/serial
crlnumber = ${dir}/crlnumber
certificate = ${dir}/ca.crt
private_key = ${dir}/ca.key
default_md = sha256
default_days = 1
default_crl_days = 1
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`;
}

function initCaDir(dir: string): void {
  mkdirSync(join(dir, 'newcerts'), { recursive: true });
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(join(dir, 'openssl.cnf'), caConfig(dir));
}

function loaded(dir: string, name: string, chainPem: string): OsslCa {
  const certPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  return {
    dir,
    name,
    certPath: join(dir, 'ca.crt'),
    keyPath: join(dir, 'ca.key'),
    certPem,
    keyPem: readFileSync(join(dir, 'ca.key'), 'utf8'),
    chainPem: certPem + chainPem,
  };
}

/** A self-signed root CA (EC P-256) in `parent/name`. */
export async function opensslRootCa(parent: string, name: string, subj = `/O=certgate tests/CN=${name}`): Promise<OsslCa> {
  const dir = join(parent, name);
  initCaDir(dir);
  await ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'ca.key'),
    '-out', join(dir, 'ca.crt'), '-days', '2', '-subj', subj, '-config', join(dir, 'openssl.cnf'), '-extensions', 'v3_ca']);
  return loaded(dir, name, '');
}

/** An intermediate CA signed by `parentCa`. */
export async function opensslIntermediateCa(parentCa: OsslCa, parent: string, name: string): Promise<OsslCa> {
  const dir = join(parent, name);
  initCaDir(dir);
  await ossl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'ca.key'),
    '-out', join(dir, 'ca.csr'), '-subj', `/O=certgate tests/CN=${name}`]);
  await ossl(['ca', '-batch', '-notext', '-config', join(parentCa.dir, 'openssl.cnf'), '-extensions', 'v3_ca',
    '-in', join(dir, 'ca.csr'), '-out', join(dir, 'ca.crt')]);
  return loaded(dir, name, parentCa.chainPem);
}

/** A leaf certificate (EC P-256) signed by `ca` with the extensions asked for. */
export async function opensslLeaf(ca: OsslCa, options: LeafOptions): Promise<OsslCert> {
  const base = join(ca.dir, options.name);
  const eku = options.eku ?? 'clientAuth';
  const ext = [
    'basicConstraints = critical, CA:false',
    'keyUsage = critical, digitalSignature',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
    eku === 'none' ? '' : `extendedKeyUsage = ${eku}`,
    options.san ? `subjectAltName = ${options.san}` : '',
    options.aia ? `authorityInfoAccess = ${options.aia}` : '',
  ].filter(Boolean);
  writeFileSync(`${base}.ext`, `[ leaf ]\n${ext.join('\n')}\n`);
  await ossl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`,
    '-out', `${base}.csr`, '-subj', options.subj]);
  const dates = options.startdate ? ['-startdate', options.startdate, '-enddate', options.enddate ?? '20300101000000Z'] : ['-days', String(options.days ?? 1)];
  if (options.serial !== undefined) {
    if (options.startdate) throw new Error('opensslLeaf: serial and startdate do not combine (openssl x509 -req takes -days only)');
    await ossl(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', options.serial,
      '-extfile', `${base}.ext`, '-extensions', 'leaf', '-sha256', '-out', `${base}.crt`, ...dates]);
  } else {
    await ossl(['ca', '-batch', '-notext', '-config', join(ca.dir, 'openssl.cnf'), '-extfile', `${base}.ext`, '-extensions', 'leaf',
      '-in', `${base}.csr`, '-out', `${base}.crt`, ...dates]);
  }
  return {
    certPath: `${base}.crt`,
    keyPath: `${base}.key`,
    certPem: readFileSync(`${base}.crt`, 'utf8'),
    keyPem: readFileSync(`${base}.key`, 'utf8'),
  };
}

/** A self-signed certificate (not from any CA): the look-alike of an allowed DN. */
export async function opensslSelfSigned(dir: string, name: string, subj: string): Promise<OsslCert> {
  const base = join(dir, name);
  await ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`,
    '-out', `${base}.crt`, '-days', '1', '-subj', subj, '-addext', 'extendedKeyUsage=clientAuth']);
  return { certPath: `${base}.crt`, keyPath: `${base}.key`, certPem: readFileSync(`${base}.crt`, 'utf8'), keyPem: readFileSync(`${base}.key`, 'utf8') };
}

/** Revokes `cert` in the CA's database (call `opensslCrl` afterwards). */
export async function opensslRevoke(ca: OsslCa, cert: OsslCert): Promise<void> {
  await ossl(['ca', '-config', join(ca.dir, 'openssl.cnf'), '-revoke', cert.certPath, '-crl_reason', 'keyCompromise']);
}

/** Writes the CA's current CRL (PEM) to `out` and returns it. */
export async function opensslCrl(ca: OsslCa, out: string): Promise<string> {
  await ossl(['ca', '-gencrl', '-config', join(ca.dir, 'openssl.cnf'), '-crldays', '1', '-out', out]);
  return readFileSync(out, 'utf8');
}
