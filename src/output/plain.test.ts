import { describe, expect, it } from 'vitest';
import { timePhase, CollectingSink } from '../events.js';
import { initialModel, reduceDashboard } from '../ui/model.js';
import { createPalette } from './color.js';
import { PlainRenderer } from './plain.js';

describe('phase events', () => {
  it('are timed by timePhase, started then finished, and a failure still ends the phase', async () => {
    const sink = new CollectingSink();
    expect(await timePhase(sink, 'deploy/render', async () => 7)).toBe(7);
    await expect(timePhase(sink, 'deploy/apply/objects', () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    expect(sink.ofType('phase').map((e) => `${e.name} ${e.status}`)).toEqual([
      'deploy/render started',
      'deploy/render finished',
      'deploy/apply/objects started',
      'deploy/apply/objects failed',
    ]);
    const [start, end] = sink.ofType('phase');
    expect(end.atMs).toBeGreaterThanOrEqual(start.atMs);
    expect(end.durationMs).toBeGreaterThanOrEqual(0);
    expect(start.durationMs).toBeUndefined();
  });

  it('print as a timeline with -v only, and leave the dashboard as it was', () => {
    const lines = (verbose: boolean) => {
      let out = '';
      new PlainRenderer({ write: (c: string) => (out += c) }, { write: () => true }, createPalette(false), verbose).emit({ type: 'phase', name: 'deploy/render', status: 'finished', atMs: 1234, durationMs: 56 });
      return out;
    };
    expect(lines(true)).toBe('+1234ms deploy/render finished (56ms)\n');
    expect(lines(false)).toBe('');
    const model = initialModel('blog');
    expect(reduceDashboard(model, { type: 'phase', name: 'deploy/render', status: 'started', atMs: 1 })).toBe(model);
  });
});
