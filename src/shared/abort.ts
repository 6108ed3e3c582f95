/**
 * Waits `ms`, or less when `signal` aborts (then it resolves, it does not reject: callers check
 * the signal themselves). Never keeps a listener on the signal after it resolved.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
