/**
 * The Ink dashboard of `devloop dev`, on a TTY only. `startDashboard` returns an EventSink fed with
 * the same events as the plain and JSON renderers, and mounts the app on stdout.
 *
 * Only src/cli/dev.ts imports this module, dynamically, when stdout is a TTY and the output is text:
 * other commands and non-TTY runs never load ink or react.
 *
 * Contract: Ctrl-C does not raise SIGINT while Ink holds the terminal in raw mode, so the key is
 * turned into `quit` (same as `q`); a second Ctrl-C sends SIGINT to this process twice, which makes
 * cli/main.ts exit at once and name `devloop down`.
 */
import React from 'react';
import { render } from 'ink';
import type { DevloopEvent, EventSink } from '../events.js';
import type { DashboardAction } from './actions.js';
import { Dashboard, type DashboardStore } from './Dashboard.js';
import { initialModel, reduceDashboard, type DashboardModel } from './model.js';

export type { DashboardAction } from './actions.js';

/** A store reduced from events; listeners are told after each event. */
export function createDashboardStore(project: string, explain = false): DashboardStore & EventSink {
  let model: DashboardModel = initialModel(project, explain);
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  return {
    get: () => model,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    toggleExplain() {
      model = { ...model, explain: !model.explain };
      notify();
    },
    emit(event: DevloopEvent) {
      try {
        model = reduceDashboard(model, event);
      } catch {
        return; // a sink never throws
      }
      notify();
    },
  };
}

export interface Dashboard {
  sink: EventSink;
  setActionHandler(handler: (action: DashboardAction) => void): void;
  /** Unmounts the app and gives the terminal back. */
  close(): Promise<void>;
}

export function startDashboard(options: { stdout: NodeJS.WriteStream; stdin: NodeJS.ReadStream; explain: boolean; project: string }): Dashboard {
  const store = createDashboardStore(options.project, options.explain);
  let handler: (action: DashboardAction) => void = () => undefined;
  let quits = 0;
  const onAction = (action: DashboardAction) => {
    if (action.type === 'quit') {
      quits++;
      if (quits === 2) {
        instance.unmount();
        process.kill(process.pid, 'SIGINT');
        process.kill(process.pid, 'SIGINT');
        return;
      }
    }
    handler(action);
  };
  const instance = render(<Dashboard store={store} onAction={onAction} />, {
    stdout: options.stdout,
    stdin: options.stdin,
    exitOnCtrlC: false,
    patchConsole: true,
  });
  return {
    sink: store,
    setActionHandler(h) {
      handler = h;
    },
    async close() {
      instance.unmount();
      await instance.waitUntilExit().catch(() => undefined);
    },
  };
}
