// deploy/systemd/certgate.service passes `systemd-analyze verify` without a warning and keeps the hardening
// docs/deploy.md describes; a misspelt directive is caught, so the check is real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/pki.ts';

const UNIT = readFileSync(fileURLToPath(new URL('../../deploy/systemd/certgate.service', import.meta.url)), 'utf8');
const INSTALLED_AT = '/usr/local/bin/certgate';

/** `systemd-analyze verify` on the unit text, with ExecStart's binary replaced by an executable in a temp dir. */
async function verify(t: Parameters<typeof tempDir>[0], text: string) {
  const dir = tempDir(t, 'cg-systemd-');
  const bin = join(dir, 'certgate');
  writeFileSync(bin, '#!/bin/sh\nexit 0\n');
  chmodSync(bin, 0o755);
  const unit = join(dir, 'certgate.service');
  writeFileSync(unit, text.replaceAll(INSTALLED_AT, bin));
  return runProcess('systemd-analyze', ['verify', unit], { env: { SYSTEMD_LOG_COLOR: '0' } });
}

/** Directive -> values, from the [Service] section. */
function service(text: string): Map<string, string[]> {
  const section = /^\[Service\]\n([\s\S]*?)(?=^\[)/m.exec(text)?.[1] ?? '';
  const out = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  }
  return out;
}

test('systemd-analyze verify accepts the unit without a warning', async (t) => {
  assert.ok(UNIT.includes(`ExecStart=${INSTALLED_AT} serve`));
  const r = await verify(t, UNIT);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no warnings');
});

test('a misspelt directive makes verify complain (the check above can fail)', async (t) => {
  const r = await verify(t, UNIT.replace('ProtectSystem=strict', 'ProtectSytem=strict'));
  assert.match(r.stderr, /Unknown key.*ProtectSytem/);
});

test('the unit runs unprivileged with only CAP_NET_BIND_SERVICE, a read-only system and reload on SIGHUP', () => {
  const s = service(UNIT);
  const one = (k: string) => s.get(k)?.at(-1);
  assert.ok(one('User') && one('User') !== 'root' || one('DynamicUser') === 'yes', 'a dedicated or dynamic user');
  assert.equal(one('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
  assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.equal(one('ProtectSystem'), 'strict');
  assert.match(one('ReadOnlyPaths') ?? '', /\/etc\/certgate/);
  assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(one('StateDirectory'), 'certgate');
  assert.equal(one('RuntimeDirectory'), 'certgate', 'for pidFile: /run/certgate/certgate.pid');
  assert.equal(one('LogsDirectory'), 'certgate', 'for log.file under /var/log/certgate');
  // stop waits longer than the drain
  const drain = /--drain-timeout (\d+)s/.exec(one('ExecStart') ?? '')?.[1];
  assert.ok(drain && Number(drain) < Number(/^(\d+)s$/.exec(one('TimeoutStopSec') ?? '')?.[1]));
});
