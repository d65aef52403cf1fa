// The README as a new user follows it: the config it shows is the one `init` writes, and its commands that sign name a
// passphrase source, so they run without a terminal (run here with stdin a pipe, as cron and CI do); the .p12 is in the
// encoding the README names, and the missing-config hint names a file the package ships.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/pki.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** Splits a command line the way sh would for the simple words the README uses: blanks, '...' and "...". */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** The lines of the first ```lang block after the line containing `marker`, with `\` continuations joined. */
function blockAfter(marker: string, lang: string): string[] {
  const start = README.indexOf(marker);
  assert.ok(start >= 0, `README has "${marker}"`);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(README.slice(start));
  assert.ok(m, `a ${lang} block follows "${marker}"`);
  return m[1].replace(/\\\n\s*/g, '').split('\n').filter((l) => l.trim() !== '');
}

/** Every certgate command the README shows: code-block lines and inline code, without comments or the CLI table. */
function readmeCommands(): string[] {
  const prose = README.split('\n').filter((l) => !l.startsWith('|')).join('\n');
  const blocks = [...prose.matchAll(/```\w*\n([\s\S]*?)```/g)].flatMap((m) => m[1].replace(/\\\n\s*/g, '').split('\n'));
  const inline = [...prose.replace(/```[\s\S]*?```/g, '').matchAll(/`(certgate [^`]+)`/g)].map((m) => m[1].replace(/\s+/g, ' '));
  return [...blocks.map((l) => l.replace(/\s+#.*$/, '').trim()), ...inline].filter((l) => l.startsWith('certgate '));
}

const SIGNS = /^certgate (init|ca (create|import|rekey)|cert (issue|sign|renew|revoke)|crl)\b/;

test('every README command that signs or creates a CA key names where its passphrase comes from', () => {
  const commands = readmeCommands();
  assert.ok(commands.filter((c) => SIGNS.test(c)).length >= 10, `found: ${commands.join('\n')}`);
  const bare = commands.filter((c) => SIGNS.test(c) && !/--passphrase-(file|env)\b|--no-passphrase\b/.test(c));
  assert.deepEqual(bare, []);
});

test('the quick start runs without a terminal, and the config the README shows is the one init writes', { timeout: 240_000 }, async (t) => {
  const cwd = tempDir(t, 'cg-readme-');
  const etc = join(cwd, 'etc-certgate');
  const steps = blockAfter('## Protect an app in 5 minutes', 'sh').filter((l) => !l.startsWith('#'));
  // step 0, the passphrase file, through a real shell exactly as written
  const prepare = steps.find((l) => l.includes('ca-pass.txt') && !l.startsWith('certgate'));
  assert.ok(prepare);
  assert.equal((await runProcess('bash', ['-c', prepare], { cwd })).code, 0);
  const init = steps.find((l) => l.startsWith('certgate init'));
  assert.ok(init, 'the quick start runs certgate init');
  const asHere = (line: string) => words(line.replaceAll('/etc/certgate', etc)).slice(1);
  const r = await runCli(asHere(init), { cwd });
  assert.equal(r.code, 0, r.stderr);

  // the .p12 the README sends to "a browser or phone" is in the legacy encoding it names (3DES, SHA-1 MAC)
  assert.match(README, /`alice\.p12` \(password shown once\) goes into a browser or phone: it uses the legacy encoding \(3DES\)/);
  const password = /password for .*alice\.p12 \(shown once[^)]*\): (\S+)/.exec(r.stderr)?.[1];
  assert.ok(password, r.stderr);
  const info = await runProcess('openssl', ['pkcs12', '-in', join(etc, 'alice.p12'), '-info', '-noout', '-passin', 'stdin'], { input: `${password}\n` });
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout + info.stderr, /pbeWithSHA1And3-KeyTripleDES-CBC/);
  assert.match(info.stdout + info.stderr, /MAC: sha1/);

  const written = readFileSync(join(etc, 'certgate.yaml'), 'utf8');
  const serial = /gateway-([0-9A-F]+)\.crt/.exec(written)?.[1];
  assert.ok(serial);
  const shown = blockAfter('as step 1 writes it', 'yaml').join('\n') + '\n';
  assert.equal(shown, written.replaceAll(serial, '<serial>').split('\n').filter((l) => l.trim() !== '').join('\n') + '\n');

  // the routes the README grows it with are valid config
  const routes = blockAfter('Routes grow from there', 'yaml').join('\n');
  writeFileSync(join(etc, 'grown.yaml'), written.slice(0, written.indexOf('    routes:')) + routes + '\n');
  const check = await runCli(['check', '-c', join(etc, 'grown.yaml')], { cwd });
  assert.equal(check.code, 0, check.stdout + check.stderr);

  // "More people" and "Someone leaves", as the README writes them
  for (const verb of ['cert issue bob', 'cert revoke bob']) {
    const line = readmeCommands().find((c) => c.startsWith(`certgate ${verb}`) && c.includes('/etc/certgate'));
    assert.ok(line, `README shows certgate ${verb}`);
    const run = await runCli(asHere(line), { cwd });
    assert.equal(run.code, 0, `${line}: ${run.stderr}`);
  }
});

test('the sidecar recipe in the README is a config certgate loads', async () => {
  const block = blockAfter('## Reach an mTLS service from a plain-HTTP app', 'yaml').join('\n');
  const { parseConfigText } = await import('../../src/config/load.ts');
  const config = parseConfigText(block, '/etc/certgate/certgate.yaml', '/etc/certgate');
  const route = config.servers[0].sites![0].routes[0];
  assert.equal(config.servers[0].tls, undefined);
  assert.ok(typeof route.upstream === 'object' && route.upstream.tls?.servername === 'server-a.example.com');
});

test('a missing config names an example file that exists and that the npm package ships', async (t) => {
  const cwd = tempDir(t, 'cg-readme-nocfg-');
  const r = await runCli(['serve'], { cwd });
  assert.equal(r.code, 1);
  const example = /start from (\S+\.yaml)\)/.exec(r.stderr)?.[1];
  assert.ok(example && existsSync(example), r.stderr);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { files: string[] };
  const rel = example.slice(example.lastIndexOf('/examples/') + 1);
  assert.ok(pkg.files.some((f) => rel.startsWith(f)), `${rel} is in package.json "files" (${pkg.files.join(', ')})`);
});
