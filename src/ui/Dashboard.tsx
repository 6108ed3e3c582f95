/**
 * The Ink view of a dev session: a header, one row per artifact/workload, the log pane (last lines
 * that fit, optionally filtered to the selected row), and the key line. Designed to fit 80x24.
 *
 * Keys: up/down select; enter filters the log pane to the selection (enter or esc goes back);
 * r rebuilds the selection, s forces a full sync of it (both through `onAction`); e toggles the
 * explain lines; ? shows help; q or Ctrl-C quits (`onAction({ type: 'quit' })`).
 *
 * The component only renders and turns keys into actions; the state lives in a `DashboardStore`.
 */
import React, { useRef, useState, useSyncExternalStore } from 'react';
import { Box, Text, useInput, useStdout } from 'ink';
import type { DashboardAction } from './actions.js';
import { describeCluster, describeRow, type DashboardModel, type LogLine } from './model.js';

export interface DashboardStore {
  get(): DashboardModel;
  subscribe(listener: () => void): () => void;
  toggleExplain(): void;
}

export interface DashboardProps {
  store: DashboardStore;
  onAction(action: DashboardAction): void;
  /** Terminal size; defaults to the stdout's, else 80x24. */
  columns?: number;
  rows?: number;
}

const HELP = [
  'up/down  select a row',
  'enter    show only the selected service\'s logs (enter or esc: all logs)',
  'r        rebuild the selected image and roll it out',
  's        copy every file matching its sync rules into its containers',
  'e        explain: show, for each change, the rule it matched and the action',
  'a        apply the changes held by --trigger manual',
  '?        this help',
  'q        quit: stop and delete what was deployed (like Ctrl-C)',
];

function fit(text: string, width: number): string {
  if (width <= 0) return '';
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, Math.max(0, width - 1))}…`;
}

const LOG_COLORS = ['cyan', 'magenta', 'yellow', 'green', 'blue', 'cyanBright', 'magentaBright', 'yellowBright', 'greenBright', 'blueBright'];

function colorFor(key: string): string {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return LOG_COLORS[(h >>> 0) % LOG_COLORS.length];
}

function LogRow({ line, width }: { line: LogLine; width: number }) {
  const prefix = fit(line.prefix, Math.min(24, Math.max(8, Math.floor(width / 4))));
  const textWidth = width - prefix.length - 1;
  const textColor = line.kind === 'error' ? 'red' : line.kind === 'warn' || line.kind === 'marker' ? 'yellow' : line.kind === 'explain' ? 'gray' : undefined;
  return (
    <Text wrap="truncate">
      <Text color={line.kind === 'log' || line.kind === 'marker' ? colorFor(line.prefix) : 'gray'}>{prefix}</Text>{' '}
      <Text {...(textColor ? { color: textColor } : {})}>{fit(line.text, textWidth).trimEnd()}</Text>
    </Text>
  );
}

export function Dashboard({ store, onAction, columns, rows }: DashboardProps) {
  const model = useSyncExternalStore(store.subscribe, store.get, store.get);
  const { stdout } = useStdout();
  const width = Math.max(40, columns ?? stdout?.columns ?? 80);
  const height = Math.max(12, rows ?? (stdout as { rows?: number } | undefined)?.rows ?? 24);
  const [selected, setSelectedState] = useState(0);
  const [filter, setFilter] = useState<string | undefined>(undefined);
  const [help, setHelpState] = useState(false);
  const index = Math.min(selected, Math.max(0, model.rows.length - 1));
  const current = model.rows[index];

  // The key handler reads what the keys before it did, not what the last render saw: Ink calls
  // the handler subscribed at the last passive effect, which under load can be a render behind,
  // and several keys can arrive in one chunk before any re-render. So the selection and the help
  // flag live in refs that the handler updates itself; the model and props are read at call time.
  const selectedRef = useRef(0);
  const helpRef = useRef(false);
  const latest = useRef({ model, onAction, store });
  latest.current = { model, onAction, store };
  const setSelected = (value: number) => {
    selectedRef.current = value;
    setSelectedState(value);
  };
  const setHelp = (value: boolean) => {
    helpRef.current = value;
    setHelpState(value);
  };

  useInput((input, key) => {
    const { model, onAction, store } = latest.current;
    const last = Math.max(0, model.rows.length - 1);
    const at = Math.min(selectedRef.current, last);
    const current = model.rows[at];
    if (key.ctrl && input === 'c') return onAction({ type: 'quit' });
    if (helpRef.current && (key.escape || input === '?' || key.return)) return setHelp(false);
    if (key.upArrow) return setSelected(Math.max(0, at - 1));
    if (key.downArrow) return setSelected(Math.min(last, at + 1));
    if (key.return) return setFilter((f) => (f ? undefined : current?.key));
    if (key.escape) return setFilter(undefined);
    if (input === 'q') return onAction({ type: 'quit' });
    if (input === '?') return setHelp(true);
    if (input === 'e') return store.toggleExplain();
    if (input === 'r' && current?.image) return onAction({ type: 'rebuild', image: current.image });
    if (input === 's' && current?.image) return onAction({ type: 'sync', image: current.image });
    if (input === 'a') return onAction({ type: 'apply' });
  });

  // rows get at most half the screen; the log pane takes the rest
  const maxRows = Math.max(1, Math.min(model.rows.length, Math.floor((height - 4) / 2)));
  const firstRow = Math.min(Math.max(0, index - maxRows + 1), Math.max(0, model.rows.length - maxRows));
  const visibleRows = model.rows.slice(firstRow, firstRow + maxRows);
  const logHeight = Math.max(1, height - 3 - Math.max(1, visibleRows.length));
  const lines = (filter ? model.logs.filter((l) => l.row === filter) : model.logs).slice(-logHeight);

  const nameWidth = Math.min(14, Math.max(8, ...model.rows.map((r) => r.key.length)));
  const clusterCell = describeCluster(model);
  const header = `devloop dev · ${model.project} · ${filter ? `logs of ${filter} (esc: all)` : 'all logs'}${model.explain ? ' · explain' : ''}${model.stopping ? ' · stopping' : ''}${clusterCell ? ` · ${clusterCell}` : ''}${model.held && model.held.length > 0 ? ` · ${model.held.length} change(s) held: a applies` : ''}`;

  if (help) {
    return (
      <Box flexDirection="column" width={width}>
        <Text bold>{fit('devloop dev: keys', width)}</Text>
        {HELP.map((h) => (
          <Text key={h}>{fit(`  ${h}`, width)}</Text>
        ))}
        <Text dimColor>{fit('press ? or esc to close', width)}</Text>
      </Box>
    );
  }

  return (
    <Box flexDirection="column" width={width}>
      <Text bold wrap="truncate">{fit(header, width)}</Text>
      {visibleRows.length === 0 ? <Text dimColor>{fit('starting…', width)}</Text> : null}
      {visibleRows.map((row) => {
        const cells = describeRow(row);
        const isSelected = row.key === current?.key;
        const buildColor = row.build?.status === 'failed' ? 'red' : row.build?.status === 'built' || row.build?.status === 'cached' || row.build?.status === 'pushed' ? 'green' : 'blue';
        return (
          <Text key={row.key} wrap="truncate" inverse={isSelected}>
            {isSelected ? '›' : ' '}
            {fit(row.key, nameWidth)} <Text color={buildColor}>{fit(cells.build, 13)}</Text> {fit(cells.pods, 16)} {fit(cells.sync, 15)}{' '}
            {cells.urls}
          </Text>
        );
      })}
      <Text dimColor>{'─'.repeat(width)}</Text>
      <Box flexDirection="column" height={logHeight}>
        {lines.map((line) => (
          <LogRow key={line.id} line={line} width={width} />
        ))}
      </Box>
      <Text dimColor wrap="truncate">{fit(`↑↓ select  enter filter  r rebuild  s sync  e explain${model.held ? '  a apply' : ''}  ? help  q quit`, width)}</Text>
    </Box>
  );
}
