// Test fixtures for the PKCS#12 tests: a root -> intermediate -> leaves hierarchy made with the real openssl CLI.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProcess } from '../helpers/cli.ts';

export async function openssl(dir: string, args: string[]): Promise<string> {
  const res = await runProcess('openssl', args, { cwd: dir });
  assert.equal(res.code, 0, `openssl ${args.join(' ')}: ${res.stderr}`);
  return res.stdout;
}

/**
 * Writes into `dir`: root.crt/key (EC), inter.crt/key (EC, signed by root), and for each leaf NAME in `leaves`
 * NAME.crt/NAME.key signed by the intermediate (a name ending in "-rsa" gets RSA-2048, others EC P-256).
 */
export async function makeHierarchy(dir: string, leaves: string[]): Promise<void> {
  writeFileSync(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n');
  writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=CA:false\nextendedKeyUsage=clientAuth\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await openssl(dir, ['req', '-x509', ...ec, '-nodes', '-keyout', 'root.key', '-out', 'root.crt', '-subj', '/CN=P12 Test Root', '-days', '2']);
  await openssl(dir, ['req', ...ec, '-nodes', '-keyout', 'inter.key', '-out', 'inter.csr', '-subj', '/CN=P12 Test Intermediate']);
  await openssl(dir, ['x509', '-req', '-in', 'inter.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-set_serial', '0x1001',
    '-extfile', 'ca.ext', '-out', 'inter.crt', '-days', '2']);
  for (const [i, name] of leaves.entries()) {
    const newkey = name.endsWith('-rsa') ? ['-newkey', 'rsa:2048'] : ec;
    await openssl(dir, ['req', ...newkey, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'inter.crt', '-CAkey', 'inter.key', '-set_serial', `0x20${10 + i}`,
      '-extfile', 'leaf.ext', '-out', `${name}.crt`, '-days', '1']);
  }
}
