/**
 * The dev loop's work queue: jobs run one at a time, in the order they were queued, so a plan, a
 * replay or a manual rebuild always sees every earlier one finished. A job queued under a `key`
 * while another of that key still waits (has not started) is not queued again: the waiting one
 * takes everything its caller accumulated meanwhile (the dev loop's file batches coalesce this way,
 * DevState.pendingChanges holding the changes).
 *
 * A job's failure goes to `onError` and the queue goes on. From `close()` on (teardown), nothing is
 * queued and jobs still waiting are skipped; the running one finishes (`settled` waits for it).
 */
export class WorkQueue {
  private tail: Promise<void> = Promise.resolve();
  private readonly waiting = new Set<string>();
  private closed = false;

  constructor(private readonly onError: (error: unknown) => void) {}

  /** Queues `job` (unless closed, or `key` already waits). Never throws; a failure is reported. */
  push(job: () => Promise<void>, key?: string): void {
    if (this.closed || (key !== undefined && this.waiting.has(key))) return;
    if (key !== undefined) this.waiting.add(key);
    this.tail = this.tail.then(async () => {
      if (key !== undefined) this.waiting.delete(key);
      if (this.closed) return;
      try {
        await job();
      } catch (error) {
        this.onError(error);
      }
    });
  }

  /**
   * Queues `job` and hands its outcome to the caller instead of reporting it: the promise settles
   * as the job does (resolves without running it when the queue closed first).
   */
  run(job: () => Promise<void>): Promise<void> {
    const outcome = this.tail.then(() => (this.closed ? undefined : job()));
    this.tail = outcome.then(
      () => undefined,
      () => undefined,
    );
    return outcome;
  }

  /** Refuses new jobs from now on; jobs still waiting are skipped. */
  close(): void {
    this.closed = true;
  }

  /** Resolves once every queued job has finished (or been skipped), or after `timeoutMs`. */
  async settled(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.tail, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }
}
