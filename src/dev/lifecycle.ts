/**
 * The dev session's lifecycle stack: every part started (file watcher, sync channels, pod watcher,
 * log streams, port-forwards) registers its stop as it starts; `tearDown` stops them in reverse
 * order, each bounded in time, each failure reported and skipped so the rest still stop. From the
 * first moment of teardown the stack refuses new parts: one registered later is stopped at once
 * (a part starting while teardown runs never outlives it).
 */
export interface LifecycleOptions {
  /** Called for a stop that failed (or took longer than `stopTimeoutMs`); teardown goes on. */
  onStopFailed(name: string, error: Error): void;
  /** How long one stop may take (default 5 s). */
  stopTimeoutMs?: number;
}

interface Part {
  name: string;
  stop(): Promise<void>;
}

export class LifecycleStack {
  private readonly parts: Part[] = [];
  private stopping = false;

  constructor(private readonly options: LifecycleOptions) {}

  /** Whether teardown has begun. */
  get tearingDown(): boolean {
    return this.stopping;
  }

  /** Registers a started part's stop (last registered, first stopped); after teardown began, stops the part at once. */
  push(name: string, stop: () => Promise<void>): void {
    if (this.stopping) {
      void this.stopOne({ name, stop });
      return;
    }
    this.parts.push({ name, stop });
  }

  /** Replaces the stop of the part `name` in its place (a part restarted, e.g. the watcher after a config reload); pushes it when absent. */
  replace(name: string, stop: () => Promise<void>): void {
    const index = this.parts.findIndex((p) => p.name === name);
    if (index < 0 || this.stopping) this.push(name, stop);
    else this.parts[index] = { name, stop };
  }

  /** The names of the registered parts, in start order. */
  names(): string[] {
    return this.parts.map((p) => p.name);
  }

  /** Stops every part in reverse order; never throws. Parts registered from now on are stopped at once. */
  async tearDown(): Promise<void> {
    this.stopping = true;
    for (const part of this.parts.splice(0).reverse()) await this.stopOne(part);
  }

  private async stopOne(part: Part): Promise<void> {
    const timeoutMs = this.options.stopTimeoutMs ?? 5_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        part.stop(),
        new Promise<void>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer after ${timeoutMs} ms`)), timeoutMs);
          timer.unref();
        }),
      ]);
    } catch (error) {
      this.options.onStopFailed(part.name, error instanceof Error ? error : new Error(String(error)));
    } finally {
      clearTimeout(timer);
    }
  }
}
