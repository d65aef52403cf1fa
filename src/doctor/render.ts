// Prints a doctor report for people: one line per check (ok / warn / FAIL / --), details indented, a fix under it.
import type { DoctorReport } from './report.ts';
import type { CheckLevel } from './diagnose.ts';

const MARK: Record<CheckLevel, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', skip: '--  ' };

export function renderText(r: DoctorReport): string {
  const t = r.target;
  const sni = t.servername ? `, SNI ${t.servername}` : ', no SNI';
  const lines = [`certgate doctor: ${t.host}:${t.port}${sni}, checking the name ${t.verifyName}`];
  const width = Math.max(...r.checks.map((c) => c.id.length));
  for (const c of r.checks) {
    lines.push(`${MARK[c.level]}  ${c.id.padEnd(width)}  ${c.summary}`);
    const pad = ' '.repeat(8 + width);
    for (const d of c.details ?? []) lines.push(`${pad}${d}`);
    if (c.fix && (c.level === 'fail' || c.level === 'warn')) lines.push(`${pad}fix: ${c.fix}`);
  }
  const failed = r.checks.filter((c) => c.level === 'fail').length;
  const warned = r.checks.filter((c) => c.level === 'warn').length;
  lines.push(failed === 0 ? `all checks passed${warned ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}` : `${failed} check${failed === 1 ? '' : 's'} failed`);
  return lines.join('\n');
}

export function renderJson(r: DoctorReport): string {
  return JSON.stringify(r, null, 2);
}
