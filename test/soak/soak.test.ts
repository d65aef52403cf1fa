// The soak in `npm test`: a short run (SOAK_SECONDS, default 20) of test/soak/soak.ts against a real `certgate serve`
// process; longer runs by hand with `npx node test/soak/soak.ts 300`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from './soak.ts';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 20);

test(`soak: ${SECONDS} s of good and hostile clients with revocations`, { timeout: (SECONDS + 150) * 1000 }, async (t) => {
  const r = await runSoak(t, SECONDS);
  const summary = JSON.stringify({ ...r, logTail: undefined }, null, 1);
  t.diagnostic(summary);
  assert.ok(r.goodRequests > 0, 'good clients made requests');
  assert.equal(r.goodFailureCount, 0, `good clients saw only 200: ${r.goodFailures.join('; ')}\n${r.logTail}`);
  assert.equal(r.revocations.length, 2, 'both revocations happened during the run');
  for (const rev of r.revocations) {
    assert.ok(rev.refusedAfterMs !== null && rev.refusedAfterMs <= 4_000, `revocation of ${rev.serial} refused on every path within 4 s (${rev.refusedAfterMs} ms; seen ${rev.seen.join(' / ')})`);
    assert.equal(rev.okAfterEffect, 0, `no 2xx for ${rev.serial} after its revocation took effect`);
    assert.ok(rev.wsClosedAfterMs !== null && rev.wsClosedAfterMs <= 4_000, `its WebSocket was closed within 4 s (${rev.wsClosedAfterMs} ms)`);
  }
  for (const [actor, n] of Object.entries(r.hostile)) assert.ok(n > 0, `hostile actor ${actor} ran`);
  assert.equal(r.closeWait, 0, 'nothing left in CLOSE-WAIT');
  assert.ok(r.fds.end <= r.fds.start + 8, `descriptors back to the start (${r.fds.start} -> peak ${r.fds.peak} -> ${r.fds.end}): ${r.held.join('; ')}`);
  // RSS alone cannot tell a leak: V8 lets garbage pile up under the floods (146 -> 368 MiB in 20 s) and keeps that
  // memory until a quiet spell. What is still reachable after a full collection can: it must come back to where it
  // started, and so must RSS once that collection has run.
  assert.ok(r.liveHeapMiB.mid > 0, 'live heap measured under load');
  assert.ok(r.liveHeapMiB.end <= r.liveHeapMiB.start + 8, `the live heap comes back to its start (${JSON.stringify(r.liveHeapMiB)} MiB)`);
  assert.ok(r.rssMiB.end <= r.rssMiB.start + 64, `RSS comes back after a full collection (${JSON.stringify(r.rssMiB)} MiB)`);
  assert.ok(r.rssMiB.peak <= 768, `RSS stays under 768 MiB (${JSON.stringify(r.rssMiB)} MiB)`);
  assert.equal(r.gatewayExit, 0, 'the gateway drained and exited 0 on SIGTERM');
});
