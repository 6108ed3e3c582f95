/**
 * Renders every event as one JSON object per line on `out`, with a timestamp. The stable machine
 * interface of `--output json`: field names are part of devloop's public contract.
 */
import type { DevloopEvent, EventSink } from '../events.js';
import type { Writable } from './plain.js';

export class JsonRenderer implements EventSink {
  constructor(private readonly out: Writable, private readonly now: () => Date = () => new Date()) {}

  emit(event: DevloopEvent): void {
    this.out.write(`${JSON.stringify({ time: this.now().toISOString(), ...event })}\n`);
  }
}
