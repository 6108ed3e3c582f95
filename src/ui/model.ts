/**
 * The dashboard's state, derived from the same events every renderer gets. `reduceDashboard` is
 * pure: (model, event) -> model, reading no clock and nothing else outside its arguments, so rows
 * and the log pane are unit-tested without a terminal.
 *
 * Rows: one per artifact (from `build` events), plus one per workload whose pods run no artifact.
 * Pods join the row of the artifact their image was built from (`pod` events carry `images`).
 * The log pane is a bounded ring buffer; the view renders the last lines that fit.
 */
import type { BuildEvent, DevloopEvent } from '../events.js';
import { formatDuration } from '../output/format.js';

export interface PodCell {
  ready: number;
  total: number;
  restarts: number;
  state: string;
}

export interface ServiceRow {
  /** Artifact image, or workload (`deployment/x`) for rows without an artifact. */
  key: string;
  image?: string;
  build?: { status: BuildEvent['status']; step?: string; tag?: string; reason?: string };
  pods: Record<string, PodCell>;
  /** Workloads (`deployment/posts`) whose pods are in this row. */
  workloads: string[];
  lastSync?: { files: number; durationMs?: number; status: string };
  urls: string[];
  /** false: `devloop dev IMAGE...` named other artifacts; this one is deployed, never synced or rebuilt on a change. */
  watched?: boolean;
}

export interface LogLine {
  id: number;
  /** Row the line belongs to (for the filter), undefined for devloop's own lines. */
  row?: string;
  prefix: string;
  text: string;
  kind: 'log' | 'marker' | 'info' | 'warn' | 'error' | 'explain';
}

export interface DashboardModel {
  project: string;
  rows: ServiceRow[];
  /** Pod name -> row key. */
  podRows: Record<string, string>;
  logs: LogLine[];
  nextLogId: number;
  /** Show `change` decisions in the log pane. */
  explain: boolean;
  /** Last deploy status line. */
  deploy?: string;
  stopping: boolean;
  /** The API server's reachability, from `cluster` events; absent while it answers. */
  cluster?: { status: 'waiting' | 'unreachable'; since?: string; nextRetry?: string; noAnswerMs?: number; pendingFiles?: number };
  /** Trigger manual: the changes waiting to be applied (`kind path`); absent with other triggers. */
  held?: string[];
}

export const LOG_BUFFER_LINES = 1000;

export function initialModel(project: string, explain = false): DashboardModel {
  return { project, rows: [], podRows: {}, logs: [], nextLogId: 1, explain, stopping: false };
}

/** The artifact a container image belongs to (`localhost:5000/blog/posts:tag` -> `blog/posts`). */
function artifactOf(reference: string, images: string[]): string | undefined {
  const noDigest = reference.split('@')[0];
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const repository = colon > slash ? noDigest.slice(0, colon) : noDigest;
  return images.find((i) => repository === i || repository.endsWith(`/${i}`));
}

function upsertRow(rows: ServiceRow[], key: string, patch: (row: ServiceRow) => ServiceRow, image?: string): ServiceRow[] {
  const index = rows.findIndex((r) => r.key === key);
  if (index < 0) return [...rows, patch({ key, ...(image ? { image } : {}), pods: {}, workloads: [], urls: [] })];
  const next = [...rows];
  next[index] = patch(rows[index]);
  return next;
}

function appendLines(model: DashboardModel, lines: Array<Omit<LogLine, 'id'>>): DashboardModel {
  if (lines.length === 0) return model;
  let id = model.nextLogId;
  const added = lines.map((l) => ({ ...l, id: id++ }));
  const logs = [...model.logs, ...added];
  return { ...model, logs: logs.length > LOG_BUFFER_LINES ? logs.slice(logs.length - LOG_BUFFER_LINES) : logs, nextLogId: id };
}

export function reduceDashboard(model: DashboardModel, event: DevloopEvent): DashboardModel {
  switch (event.type) {
    case 'build': {
      const rows = upsertRow(
        model.rows,
        event.image,
        (row) => ({
          ...row,
          image: event.image,
          build: {
            status: event.status,
            ...(event.status === 'step' ? { step: event.step } : {}),
            tag: event.tag ?? row.build?.tag,
            ...(event.reason ? { reason: event.reason } : {}),
          },
        }),
        event.image,
      );
      const next = { ...model, rows };
      if (event.status === 'failed') {
        return appendLines(next, [
          { prefix: event.image, text: `build failed${event.reason ? `: ${event.reason}` : ''}`, kind: 'error', row: event.image },
          ...(event.output ?? []).map((text) => ({ prefix: event.image, text, kind: 'error' as const, row: event.image })),
        ]);
      }
      return next;
    }
    case 'pod': {
      const images = model.rows.filter((r) => r.image).map((r) => r.image!);
      const artifact = (event.images ?? []).map((i) => artifactOf(i, images)).find(Boolean);
      const key = artifact ?? model.podRows[event.pod] ?? event.owner ?? `pod/${event.pod}`;
      const rows = upsertRow(model.rows, key, (row) => {
        const pods = { ...row.pods };
        if (event.state === 'Deleted') delete pods[event.pod];
        else pods[event.pod] = { ready: event.ready, total: event.total, restarts: event.restarts, state: event.state };
        const workloads = event.owner && !row.workloads.includes(event.owner) ? [...row.workloads, event.owner] : row.workloads;
        return { ...row, pods, workloads };
      });
      return { ...model, rows, podRows: { ...model.podRows, [event.pod]: key } };
    }
    case 'sync': {
      const rows = upsertRow(model.rows, event.artifact, (row) => ({
        ...row,
        lastSync: { files: event.copied.length + event.deleted.length, durationMs: event.durationMs, status: event.status },
      }));
      const next = { ...model, rows };
      return event.status === 'failed'
        ? appendLines(next, [{ prefix: event.artifact, text: `sync failed: ${event.message ?? ''}`, kind: 'error', row: event.artifact }])
        : next;
    }
    case 'portForward': {
      const key = (event.pod && model.podRows[event.pod]) || model.rows.find((r) => r.workloads.includes(event.resource))?.key;
      const url = `http://${event.address}:${event.localPort}`;
      let next = model;
      if (key && (event.status === 'listening' || event.status === 'connected')) {
        next = { ...model, rows: upsertRow(model.rows, key, (row) => ({ ...row, urls: row.urls.includes(url) ? row.urls : [...row.urls, url] })) };
      }
      if (event.status === 'failed' || event.message) {
        next = appendLines(next, [{ prefix: 'port-forward', text: `${event.resource} ${url}: ${event.status}${event.message ? ` ${event.message}` : ''}`, kind: event.status === 'failed' ? 'error' : 'info', row: key }]);
      }
      return next;
    }
    case 'log':
      return appendLines(model, [
        {
          prefix: logPrefix(event.pod, event.container),
          text: event.hook ? `[hook ${event.hook}] ${event.line}` : event.line,
          kind: event.marker || event.hook ? 'marker' : 'log',
          row: model.podRows[event.pod],
        },
      ]);
    case 'hook': {
      const name = `${event.phase}/${event.when} #${event.index}`;
      const prefix = event.kind === 'container' && event.pod ? logPrefix(event.pod, event.container ?? '') : (event.artifact ?? 'hook');
      const row = event.artifact ?? (event.pod ? model.podRows[event.pod] : undefined);
      if (event.status === 'output') return appendLines(model, [{ prefix, text: `[hook ${name}] ${event.line ?? ''}`, kind: 'marker', row }]);
      if (event.status === 'running') return model;
      if (event.status === 'succeeded') return appendLines(model, [{ prefix, text: `hook ${name} ok${event.durationMs !== undefined ? ` (${formatDuration(event.durationMs)})` : ''}`, kind: 'info', row }]);
      const what = event.status === 'timed-out' ? 'timed out' : event.status === 'interrupted' ? 'interrupted' : event.exitCode !== undefined ? `failed with exit code ${event.exitCode}` : `failed${event.message ? ` (${event.message})` : ''}`;
      return appendLines(model, [
        { prefix, text: `hook ${name} ${what}: ${event.command.join(' ')}`, kind: event.status === 'interrupted' ? 'warn' : 'error', row },
        ...(event.kind === 'container' ? (event.output ?? []).map((text) => ({ prefix, text, kind: 'error' as const, row })) : []),
      ]);
    }
    case 'restart': {
      if (event.status === 'restarting') return model;
      const text = event.status === 'failed' ? `restart of the main process failed: ${event.message ?? ''}` : `main process restarted${event.message ? ` (${event.message})` : ''}`;
      return appendLines(model, [{ prefix: logPrefix(event.pod, event.container), text, kind: event.status === 'failed' ? 'error' : 'marker', row: event.artifact }]);
    }
    case 'deploy': {
      const text = `deploy ${event.status}${event.object ? ` ${event.object}` : ''}${event.message ? `: ${event.message}` : ''}${event.durationMs !== undefined ? ` (${formatDuration(event.durationMs)})` : ''}`;
      const next = { ...model, deploy: text };
      const worthALine = event.status === 'failed' || event.status === 'ready' || event.status === 'replaced' || (event.status === 'applied' && event.count !== undefined);
      return worthALine ? appendLines(next, [{ prefix: 'devloop', text, kind: event.status === 'failed' ? 'error' : event.status === 'replaced' ? 'warn' : 'info' }]) : next;
    }
    case 'change':
      return model.explain ? appendLines(model, [{ prefix: 'explain', text: `${event.path} -> ${event.action}${event.artifact ? ` [${event.artifact}]` : ''}: ${event.reason}`, kind: 'explain', row: event.artifact }]) : model;
    case 'message':
      if (event.level === 'debug') return model;
      return appendLines(
        model,
        event.text.split('\n').map((text) => ({ prefix: 'devloop', text, kind: event.level === 'warn' ? ('warn' as const) : ('info' as const) })),
      );
    case 'watch':
      if (event.status === 'ready') {
        let rows = model.rows;
        for (const image of event.unwatched ?? []) rows = upsertRow(rows, image, (row) => ({ ...row, watched: false }), image);
        const next = { ...model, rows, ...(event.trigger === 'manual' ? { held: model.held ?? [] } : {}) };
        return event.trigger && event.trigger !== 'notify' ? appendLines(next, [{ prefix: 'watch', text: event.message ?? '', kind: 'info' }]) : next;
      }
      if (event.status === 'held') {
        const next = { ...model, held: event.held ?? [] };
        return event.message ? appendLines(next, [{ prefix: 'watch', text: event.message, kind: 'info' }]) : next;
      }
      return appendLines(model, [{ prefix: 'watch', text: `${event.status} ${event.root ?? ''} ${event.message ?? ''}`.trim(), kind: 'warn' }]);
    case 'teardown':
      return appendLines({ ...model, stopping: true }, [
        { prefix: 'teardown', text: `${event.status}${event.object ? ` ${event.object}` : ''}${event.remaining !== undefined ? ` (${event.remaining} remaining)` : ''}${event.message ? ` ${event.message}` : ''}`, kind: event.status === 'failed' ? 'error' : event.status === 'kept' ? 'warn' : 'info' },
      ]);
    case 'cluster': {
      if (event.status === 'reachable') {
        const { cluster: _gone, ...rest } = model;
        return appendLines(rest, [{ prefix: 'cluster', text: `reachable again${event.pendingFiles ? `; re-syncing ${event.pendingFiles} file(s)` : ''}${event.redeploy ? '; redeploying' : ''}`, kind: 'info' }]);
      }
      if (event.status === 'waiting') {
        // an outage already shown stays shown: a slow call during it says nothing new
        if (model.cluster?.status === 'unreachable') return model;
        return { ...model, cluster: { status: 'waiting', noAnswerMs: event.noAnswerMs } };
      }
      const cluster = { status: 'unreachable' as const, since: event.since, nextRetry: event.nextRetry, pendingFiles: event.pendingFiles };
      const next = { ...model, cluster };
      return model.cluster?.status === 'unreachable'
        ? next
        : appendLines(next, [{ prefix: 'cluster', text: `unreachable${event.message ? `: ${event.message}` : ''}; edits are kept and synced when it answers`, kind: 'warn' }]);
    }
    case 'prune':
      return appendLines(model, [{ prefix: 'prune', text: `${event.status} ${event.object}${event.status === 'kept' && event.message ? ` ${event.message}` : ''}`, kind: event.status === 'kept' ? 'warn' : 'info' }]);
    case 'phase':
      // Timing for -v and --output json; the dashboard shows outcomes, not the timeline.
      return model;
    case 'error': {
      const e = event.error as { message?: string; details?: string[]; hint?: string };
      return appendLines(model, [
        { prefix: 'error', text: e.message ?? '', kind: 'error' },
        ...(e.details ?? []).map((text) => ({ prefix: 'error', text, kind: 'error' as const })),
        ...(e.hint ? [{ prefix: 'next', text: e.hint, kind: 'error' as const }] : []),
      ]);
    }
  }
  return model;
}

/** The header's cluster cell: "cluster unreachable since 10:02:03, retry in 3s", or undefined while it answers. */
export function describeCluster(model: DashboardModel, now = Date.now()): string | undefined {
  const c = model.cluster;
  if (!c) return undefined;
  if (c.status === 'waiting') return `waiting for the cluster (no answer for ${Math.round((c.noAnswerMs ?? 0) / 1000)}s)`;
  const since = c.since ? ` since ${new Date(c.since).toISOString().slice(11, 19)}` : '';
  const retry = c.nextRetry ? `, retry in ${Math.max(0, Math.round((Date.parse(c.nextRetry) - now) / 1000))}s` : '';
  const pending = c.pendingFiles ? `, ${c.pendingFiles} file(s) to sync` : '';
  return `cluster unreachable${since}${retry}${pending}`;
}

/** One-line summary cells of a row, for the view. */
export function describeRow(row: ServiceRow): { build: string; pods: string; sync: string; urls: string } {
  const b = row.build;
  const build = !b
    ? '-'
    : b.status === 'step'
      ? `building ${b.step ? (/Step (\d+\/\d+)/.exec(b.step)?.[1] ?? '') : ''}`.trim()
      : b.status === 'built' || b.status === 'cached' || b.status === 'pushed'
        ? `${b.status}${b.tag ? ` ${shortTag(b.tag)}` : ''}`
        : b.status;
  const cells = Object.values(row.pods);
  const ready = cells.reduce((n, c) => n + (c.ready === c.total && c.total > 0 ? 1 : 0), 0);
  const restarts = cells.reduce((n, c) => n + c.restarts, 0);
  const odd = cells.find((c) => c.state !== 'Running')?.state;
  const abbreviated = odd === 'CrashLoopBackOff' ? 'CrashLoop' : odd === 'ContainerCreating' ? 'Creating' : odd;
  const pods = cells.length === 0 ? '-' : `${ready}/${cells.length} ${abbreviated ?? 'ready'}${restarts ? ` ${restarts}↻` : ''}`;
  const s = row.lastSync;
  const sync = !s ? (row.watched === false ? 'not watched' : '-') : s.status === 'failed' ? 'sync failed' : `${s.status === 'replayed' ? 'replay' : 'synced'} ${s.files}f${s.durationMs !== undefined ? ` ${formatDuration(s.durationMs)}` : ''}`;
  return { build, pods, sync, urls: row.urls.map((u) => u.replace(/^http:\/\//, '')).join(' ') };
}

function shortTag(reference: string): string {
  const tag = reference.slice(reference.lastIndexOf(':') + 1);
  return tag.length > 6 ? tag.slice(0, 6) : tag;
}

/**
 * `pod/container`, shortened for the log pane: a ReplicaSet pod loses its template hash
 * (`posts-7d9f8c6b5-x2k4q` -> `posts-x2k4q`) and a container named like its workload is omitted.
 */
export function logPrefix(pod: string, container: string): string {
  const match = /^(.+)-[a-z0-9]{6,10}-([a-z0-9]{5})$/.exec(pod);
  const base = match ? match[1] : undefined;
  const short = match ? `${match[1]}-${match[2]}` : pod;
  return container === base ? short : `${short}/${container}`;
}
