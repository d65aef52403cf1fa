// testssl.sh against real certgate listeners: the TLS defaults (protocols, AEAD-only TLS 1.2, renegotiation, HSTS,
// LUCKY13, SWEET32, ...) judged from testssl's JSON findings by id and severity; a widened `tls.ciphers` is the twin.
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, issueCert, tempDir } from '../../helpers/pki.ts';
import { startEchoUpstream } from '../../helpers/echo-upstream.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { runProcess } from '../../helpers/cli.ts';
import { DEFAULT_TLS12_CIPHERS } from '../../../src/gateway/tls/tls-context.ts';

/** One entry of testssl's flat JSON (`--jsonfile`). */
interface Finding {
  id: string;
  severity: string;
  finding: string;
}

// Measured here (2 cores shared with other suites, load average 15-45): 140-260 s for the verify scan, 105-225 s for
// the twin, of which 30-55 s CPU; a quarter is testssl's own start-up, so each listener gets one invocation.
const SCAN_TIMEOUT_MS = 420_000;

/**
 * What a listener must show, by testssl finding id, grouped by the testssl option that produces it. `finding` is
 * compared only where the severity alone does not tell (testssl rates "TLS 1.0 not offered" and "3DES not offered"
 * INFO, like some "offered" results); those values are testssl's fixed words, not prose.
 */
const RULES: Array<{ option: string; id: string; severity: string; finding?: string | RegExp }> = [
  // -p: nothing below TLS 1.2, TLS 1.2 and 1.3 offered
  { option: '-p', id: 'SSLv2', severity: 'OK', finding: 'not offered' },
  { option: '-p', id: 'SSLv3', severity: 'OK', finding: 'not offered' },
  { option: '-p', id: 'TLS1', severity: 'INFO', finding: 'not offered' },
  { option: '-p', id: 'TLS1_1', severity: 'INFO', finding: 'not offered' },
  { option: '-p', id: 'TLS1_2', severity: 'OK', finding: 'offered' },
  { option: '-p', id: 'TLS1_3', severity: 'OK', finding: /^offered/ },
  // -s: the cipher categories; everything but AEAD ("STRONG") must be absent
  { option: '-s', id: 'cipherlist_NULL', severity: 'OK', finding: 'not offered' },
  { option: '-s', id: 'cipherlist_aNULL', severity: 'OK', finding: 'not offered' },
  { option: '-s', id: 'cipherlist_EXPORT', severity: 'OK', finding: 'not offered' },
  { option: '-s', id: 'cipherlist_LOW', severity: 'OK', finding: 'not offered' }, // DES, RC2, RC4
  { option: '-s', id: 'cipherlist_3DES_IDEA', severity: 'INFO', finding: 'not offered' },
  { option: '-s', id: 'cipherlist_AVERAGE', severity: 'INFO', finding: 'not offered' }, // every CBC suite (AES, ARIA, CAMELLIA, SEED)
  { option: '-s', id: 'cipherlist_STRONG', severity: 'OK', finding: 'offered' },
  // -h: HSTS with max-age over 180 days (only when the header is there; a missing header is the id "HSTS")
  { option: '-h', id: 'HSTS_time', severity: 'OK' },
  // vulnerabilities. Not -H (heartbleed): OpenSSL removed heartbeat support, so Node's has none, and testssl's check
  // first enumerates the server's TLS extensions one handshake at a time, a tenth of the scan.
  { option: '-R', id: 'secure_renego', severity: 'OK' },
  { option: '-R', id: 'secure_client_renego', severity: 'OK' },
  { option: '-C', id: 'CRIME_TLS', severity: 'OK' },
  { option: '-O', id: 'POODLE_SSL', severity: 'OK' },
  { option: '-O', id: 'fallback_SCSV', severity: 'OK' },
  { option: '-W', id: 'SWEET32', severity: 'OK' },
  { option: '-A', id: 'BEAST', severity: 'OK' },
  { option: '-L', id: 'LUCKY13', severity: 'OK' },
];

const ALL_OPTIONS = [...new Set(RULES.map((r) => r.option))];

/** Severities that fail a scan whatever the id (WARN: a check testssl could not complete; FATAL: the scan stopped). */
const BAD_SEVERITIES = new Set(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL', 'WARN', 'FATAL']);

/**
 * The ids a scan run with `options` got wrong: a rule whose finding is missing or different, or any finding rated
 * LOW or worse (WARN: a check testssl could not complete).
 */
function judge(findings: Finding[], options: string[]): string[] {
  const byId = new Map(findings.map((f) => [f.id, f]));
  const wrong = new Set<string>();
  for (const rule of RULES) {
    if (!options.includes(rule.option)) continue;
    const f = byId.get(rule.id);
    const findingOk = rule.finding === undefined || (typeof rule.finding === 'string' ? f?.finding === rule.finding : rule.finding.test(f?.finding ?? ''));
    if (!f || f.severity !== rule.severity || !findingOk) wrong.add(rule.id);
  }
  for (const f of findings) if (BAD_SEVERITIES.has(f.severity)) wrong.add(f.id);
  return [...wrong].sort();
}

/** Runs testssl against 127.0.0.1:port with `options` and returns its findings; fails unless the scan completed. */
async function scan(t: TestContext, dir: string, port: number, options: string[]): Promise<Finding[]> {
  const jsonFile = join(dir, `testssl-${port}.json`);
  const started = performance.now();
  // --sneaky: no testssl user agent; --nodns none: the target is an IP; --fast: one preferred cipher, no openssl -e
  const r = await runProcess('testssl', ['--quiet', '--color', '0', '--warnings', 'batch', '--nodns', 'none', '--sneaky', '--fast',
    ...options, '--jsonfile', jsonFile, `127.0.0.1:${port}`], { timeoutMs: SCAN_TIMEOUT_MS });
  const seconds = (performance.now() - started) / 1000;
  t.diagnostic(`testssl ${options.join(' ')}: ${seconds.toFixed(1)} s`);
  assert.notEqual(r.code, null, `testssl did not finish within ${SCAN_TIMEOUT_MS / 1000} s`);
  const findings = JSON.parse(readFileSync(jsonFile, 'utf8')) as Finding[];
  // testssl writes scanTime last; a fatal error is a "scanProblem" finding instead
  assert.ok(findings.some((f) => f.id === 'scanTime'), `testssl stopped early (exit ${r.code}): ${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
  return findings;
}

async function fixture(t: TestContext, prefix: string) {
  const dir = tempDir(t, prefix);
  const ca = await makeCa(t, { passphrase: null });
  const server = await issueCert(ca, 'gateway', { profile: 'server' });
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  return { dir, ca, server, upstream };
}

// Each scan is one mostly serial testssl process: run side by side, the file takes as long as the slower scan.
describe('testssl against certgate listeners', { concurrency: 2 }, () => {
  test('testssl finds nothing weak in the default TLS settings (verify mode)', { timeout: SCAN_TIMEOUT_MS + 30_000 }, async (t) => {
    const { dir, ca, server, upstream } = await fixture(t, 'cg-testssl-');
    const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}}
    clientAuth: {ca: ${ca.certPath}}
    routes: [{path: /, upstream: "${upstream.url}"}]
`);
    const findings = await scan(t, dir, gw.port, ALL_OPTIONS);
    assert.deepEqual(judge(findings, ALL_OPTIONS), []);
  });

  test('twin: require mode with a CBC suite added to tls.ciphers; testssl reports the CBC suite and LUCKY13', { timeout: SCAN_TIMEOUT_MS + 30_000 }, async (t) => {
    const { dir, ca, server, upstream } = await fixture(t, 'cg-testssl-cbc-');
    const widened = [...DEFAULT_TLS12_CIPHERS, 'ECDHE-ECDSA-AES128-SHA256'].join(':');
    const gw = await startGateway(t, dir, `
servers:
  - listen: 127.0.0.1:0
    tls: {cert: ${server.certPath}, key: ${server.keyPath}, ciphers: "${widened}"}
    clientAuth: {ca: ${ca.certPath}, mode: require}
    routes: [{path: /, upstream: "${upstream.url}"}]
`);
    const options = ['-p', '-s', '-h', '-L'];
    const findings = await scan(t, dir, gw.port, options);
    // testssl (3.0) has no client certificate to offer: it can run every check that needs only the server's side of the
    // handshake, but no HTTP request gets through, so the HTTP checks are skipped.
    assert.ok(!findings.some((f) => f.id === 'HTTP_status_code'), 'no HTTP request got through without a certificate');
    const wrong = judge(findings, options);
    assert.deepEqual(wrong, [
      'HSTS_time', // HTTP checks skipped: no HSTS finding
      'LUCKY13', // "potentially vulnerable": a CBC suite is offered
      'cipherlist_AVERAGE', // the category of obsolete CBC ciphers is offered
    ], JSON.stringify(findings.filter((f) => wrong.includes(f.id))));
  });
});
