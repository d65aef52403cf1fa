// When `ca serve` re-signs a CRL: at half its lifetime, sooner after a failure, never in a tight loop. Pure.

/** Shortest delay between two scheduled attempts for one CA. */
export const MIN_DELAY_MS = 1000;
/** Longest delay after a failed attempt. */
export const MAX_RETRY_MS = 60_000;
/** setTimeout's ceiling (about 24.8 days); longer waits are taken in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The moment half of the CRL's lifetime has passed; a CRL without nextUpdate is refreshed a day after thisUpdate.
 * With `serviceLifetimeMs` (`--crl-lifetime`), a longer-lived CRL another process signed (a `cert revoke` with the
 * CA's remembered days) is still re-signed on the service's own cadence.
 */
export function refreshAt(thisUpdate: Date, nextUpdate: Date | undefined, serviceLifetimeMs?: number): Date {
  const end = nextUpdate ?? new Date(thisUpdate.getTime() + 2 * 86_400_000);
  const lifetime = Math.max(0, end.getTime() - thisUpdate.getTime());
  return new Date(thisUpdate.getTime() + Math.min(lifetime, serviceLifetimeMs ?? lifetime) / 2);
}

/** Delay until `at` from `now`, at least MIN_DELAY_MS (so a CRL already due is re-signed once, not in a loop). */
export function delayUntil(at: Date, now: Date): number {
  return Math.min(MAX_TIMER_MS, Math.max(MIN_DELAY_MS, at.getTime() - now.getTime()));
}

/** Delay before retrying a failed publish: a tenth of what is left before nextUpdate, between 1 s and 60 s. */
export function retryDelay(nextUpdate: Date | undefined, now: Date): number {
  const left = nextUpdate ? nextUpdate.getTime() - now.getTime() : MAX_RETRY_MS * 10;
  return Math.min(MAX_RETRY_MS, Math.max(MIN_DELAY_MS, Math.floor(left / 10)));
}
