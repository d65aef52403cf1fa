// A CRL an earlier run owed (it recorded a revocation, then died or failed before writing crl.pem): publish or warn.
import type { UnlockedCa } from '../pki/ca.ts';
import { caPaths } from '../pki/ca-dir.ts';
import { owedCrlNumber, publishOwedCrl } from '../pki/crl-publish.ts';
import { CaStore } from '../pki/store.ts';
import { isCertgateError } from '../core/errors.ts';
import type { CliContext } from './context.ts';

/**
 * Every command that unlocks a CA key publishes what that CA owes, first thing, so no revocation stays unpublished
 * longer than the next signing run. A failure here is a warning: the command's own job is unrelated, and `certgate
 * crl` / `cert revoke` run into the same error themselves.
 */
export async function publishOwedAfterUnlock(ca: UnlockedCa, ctx: CliContext): Promise<void> {
  const store = CaStore.open(ca.dir);
  try {
    const owed = owedCrlNumber(store);
    if (owed === null) return;
    const r = await publishOwedCrl(ca, store);
    if (r) ctx.err(`certgate: note: published the CRL an earlier run owed (a revocation was recorded but not published): ${r.crlPath}, number ${r.crlNumber}, ${r.entries} revoked`);
  } catch (err) {
    if (!isCertgateError(err)) throw err;
    ctx.err(`certgate: warning: ${caPaths(ca.dir).crl} is behind the CA store (a revocation is recorded but not published) and publishing it failed: ${err.userLine()}`);
  } finally {
    store.close();
  }
}

/** For commands that read the store without the key (cert list/show/export, client-config): say what to run. */
export function warnIfCrlOwed(store: CaStore, dir: string, ctx: CliContext): void {
  if (owedCrlNumber(store) === null) return;
  ctx.err(`certgate: warning: ${caPaths(dir).crl} is behind the CA store: a revocation is recorded but not published yet ` +
    `(a run stopped before writing the CRL); verifiers still accept that certificate until you run: certgate crl --dir ${dir}`);
}
