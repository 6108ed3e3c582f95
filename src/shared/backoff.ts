/**
 * The one retry schedule of long-lived connections (pod watch, log streams, port-forwards, the
 * dev loop's cluster probe): 250 ms doubling to at most 4 s, retried for as long as the session
 * runs. Capped in interval, never in time: a cluster that comes back after an hour is picked up
 * within 4 s.
 */
export const BACKOFF_MIN_MS = 250;
export const BACKOFF_MAX_MS = 4_000;

/** The delay before retry number `attempt` (0-based): 250, 500, 1000, 2000, 4000, 4000... ms. */
export function backoffMs(attempt: number, minMs = BACKOFF_MIN_MS, maxMs = BACKOFF_MAX_MS): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 20);
  return Math.min(maxMs, minMs * 2 ** exponent);
}
