// `certgate init` / `demo`: lay out a ready-to-serve folder — a CA, a gateway certificate, one client certificate and
// a certgate.yaml that protects one upstream. Wiring only: the CA work is src/pki's, the config format src/config's.
import { lstatSync, mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { UserError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/fs-atomic.ts';
import { createCa } from '../pki/ca-setup.ts';
import { unlockCa } from '../pki/ca.ts';
import { caPaths } from '../pki/ca-dir.ts';
import { issueCertificate } from '../pki/issue.ts';
import type { IssueResult } from '../pki/issue.ts';
import { CaStore } from '../pki/store.ts';

export interface WorkspaceOptions {
  /** The folder to create (pki/ and certgate.yaml go inside). */
  dir: string;
  /** Names the gateway answers to: DNS names and IP addresses (the server certificate's SANs). */
  hosts: string[];
  /** Address the gateway listens on. */
  listen: string;
  /** The app to protect. */
  upstream: string;
  /** NAME of the first client certificate. */
  client: string;
  caName: string;
  /** null = unencrypted CA key (demo, or --no-passphrase). */
  passphrase: string | null;
}

export interface Workspace {
  dir: string;
  configPath: string;
  pkiDir: string;
  server: IssueResult;
  client: IssueResult;
  chainPems: string[];
}

export const CONFIG_FILE = 'certgate.yaml';

export function defaultCaName(): string {
  return `certgate CA (${hostname()})`;
}

/** True when anything is at `path`, a dangling symlink included (existsSync follows links and misses those). */
function taken(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses to touch a folder that already holds a CA or a config: init never overwrites. Checked before the CA is
 * made, so a certgate.yaml that cannot be created (even a dangling symlink) leaves no half-made CA behind.
 */
export function assertFreshWorkspace(dir: string, alsoNew: string[] = []): void {
  for (const f of [join(dir, CONFIG_FILE), caPaths(join(dir, 'pki')).cert, ...alsoNew]) {
    if (taken(f)) {
      throw new UserError('CG_FILE_EXISTS', `${f} already exists; certgate init does not overwrite it`, {
        hint: 'pick another --dir, or use `certgate cert issue` to add certificates to the existing CA',
      });
    }
  }
}

export async function createWorkspace(o: WorkspaceOptions): Promise<Workspace> {
  const dir = resolve(o.dir);
  assertFreshWorkspace(dir);
  mkdirSync(dir, { recursive: true });
  const pkiDir = join(dir, 'pki');
  const loaded = await createCa({ dir: pkiDir, name: o.caName, passphrase: o.passphrase });
  const ca = await unlockCa(loaded, o.passphrase);
  const store = CaStore.open(pkiDir);
  let server: IssueResult;
  let client: IssueResult;
  try {
    server = await issueCertificate(ca, store, {
      name: 'gateway',
      profile: 'server',
      sans: { dns: o.hosts.filter((h) => isIP(h) === 0), ip: o.hosts.filter((h) => isIP(h) !== 0) },
    });
    client = await issueCertificate(ca, store, { name: o.client, profile: 'client' });
  } finally {
    store.close();
  }
  const configPath = join(dir, CONFIG_FILE);
  writeFileAtomic(configPath, renderConfig(dir, pkiDir, server, o), { exclusive: true });
  return { dir, configPath, pkiDir, server, client, chainPems: loaded.chainPems };
}

/** The certgate.yaml that init writes: every default spelled out where a reader would wonder about it. */
export function renderConfig(dir: string, pkiDir: string, server: IssueResult, o: Pick<WorkspaceOptions, 'listen' | 'upstream' | 'client'>): string {
  const rel = (p: string) => relative(dir, p);
  const paths = caPaths(pkiDir);
  // the clientAuth comments start in one column, whatever the paths' lengths
  const commented = (pairs: [string, string][]) => {
    const width = Math.max(...pairs.map(([kv]) => kv.length)) + 2;
    return pairs.map(([kv, comment]) => `      ${kv.padEnd(width)}# ${comment}`).join('\n');
  };
  return `# certgate.yaml written by \`certgate init\`. Check it with \`certgate check -c ${CONFIG_FILE}\`.
# Every key is described in docs/config.md; paths are relative to this file.
servers:
  - listen: ${o.listen}
    tls:
      cert: ${rel(server.certPath)}
      key: ${rel(server.keyPath!)}
    clientAuth:
${commented([
  [`ca: ${rel(paths.chain)}`, 'client certificates must chain to this CA'],
  [`crl: ${rel(paths.crlBundle)}`, 'covers every CA in the chain; rewritten by `certgate cert revoke`, re-read on change'],
  ['mode: verify', 'no certificate => a 403 page that says why (require: refuse the handshake)'],
])}
    routes:
      - path: /
        upstream: ${o.upstream}
        # allow:               # absent: any valid certificate of this CA
        #   - cn: [${o.client}]
`;
}
