// Benchmark certificates made with the openssl CLI (not certgate's own CA code, so the harness does not depend on it).
import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type KeyAlg = 'ec' | 'rsa';

/** One CA and the leaves signed by it; every path is absolute inside the bench temp dir. */
export interface CertSet {
  alg: KeyAlg;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export interface BenchPki {
  /** ECDSA P-256 CA, server and client (the default for every scenario). */
  ec: CertSet;
  /** RSA-2048 CA, server and client (the RSA handshake scenario). */
  rsa: CertSet;
  /** The upstream nginx's server cert and the client cert certgate/nginx present to it (mTLS-upstream scenario). */
  upstream: { caCert: string; serverCert: string; serverKey: string; proxyCert: string; proxyKey: string };
}

function keyArgs(alg: KeyAlg): string[] {
  return alg === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd, timeout: 30_000 });
}

async function makeCa(dir: string, name: string, alg: KeyAlg): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await openssl(
    ['req', '-x509', ...keyArgs(alg), '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/O=certgate bench/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  await chmod(key, 0o600);
  return { cert, key };
}

async function makeLeaf(
  dir: string,
  name: string,
  alg: KeyAlg,
  ca: { cert: string; key: string },
  subject: string,
  ext: string,
): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await openssl(['req', '-new', ...keyArgs(alg), '-nodes', '-keyout', key, '-out', csr, '-subj', subject], dir);
  await chmod(key, 0o600);
  await openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-out', cert, '-extfile', extFile],
    dir,
  );
  return { cert, key };
}

const SERVER_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n';
const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';

async function makeSet(dir: string, alg: KeyAlg): Promise<CertSet> {
  const ca = await makeCa(dir, `${alg}-ca`, alg);
  const server = await makeLeaf(dir, `${alg}-server`, alg, ca, '/O=certgate bench/CN=localhost', SERVER_EXT);
  const client = await makeLeaf(dir, `${alg}-client`, alg, ca, '/O=certgate bench/OU=bench/CN=bench-client', CLIENT_EXT);
  return { alg, caCert: ca.cert, serverCert: server.cert, serverKey: server.key, clientCert: client.cert, clientKey: client.key };
}

/** Creates every certificate the benchmark needs in `dir` (keys mode 0600; the dir is a mkdtemp the caller removes). */
export async function makeBenchPki(dir: string): Promise<BenchPki> {
  await mkdir(dir, { recursive: true });
  const [ec, rsa] = await Promise.all([makeSet(dir, 'ec'), makeSet(dir, 'rsa')]);
  const upCa = await makeCa(dir, 'upstream-ca', 'ec');
  const upServer = await makeLeaf(dir, 'upstream-server', 'ec', upCa, '/O=certgate bench/CN=localhost', SERVER_EXT);
  const proxy = await makeLeaf(dir, 'proxy-client', 'ec', upCa, '/O=certgate bench/CN=gateway', CLIENT_EXT);
  return {
    ec,
    rsa,
    upstream: { caCert: upCa.cert, serverCert: upServer.cert, serverKey: upServer.key, proxyCert: proxy.cert, proxyKey: proxy.key },
  };
}
