/**
 * The dev loop's planner: a pure function from (a batch of file changes, the config, the loop's
 * state) to a Plan value. It performs no I/O and starts nothing; executing the plan is src/dev/'s
 * job. Everything it needs beyond the config (the rendered manifest files, which images cannot be
 * synced, each context's .dockerignore matcher as a value) is passed in `PlanState`: a batch that
 * edits a .dockerignore must come with matchers already re-read (build's `filtersForPlan`).
 *
 * Decision rules, per change (one ChangeEvent per change and per artifact context involved):
 * 1. The config file -> reload-config.
 * 2. A manifest (in `state.manifestFiles`, matching a `deploy.kubectl.manifests` glob, or under a
 *    kustomize path or helm chart directory) -> redeploy.
 * 3. `.git/**` and `watch.ignore` matches -> ignore (the watcher prunes these; this is the record).
 * 4. Inside one or more artifact contexts (a path belongs to every context containing it):
 *    - an image in `state.unwatched` -> ignore (not developed in this session);
 *    - dockerignored in that context -> ignore (the decision names the pattern, when known);
 *    - in the most specific (deepest) containing context only: the first sync rule whose `src`
 *      matches the path relative to the context (shared/globs.ts), or every matching rule with
 *      `sync.everyMatch` (Skaffold's behaviour) -> sync (copy, or delete for unlink/unlinkDir),
 *      unless the image is in `state.syncDisabled` -> rebuild;
 *    - otherwise -> rebuild of that image plus its dependents. An enclosing context (e.g. a base
 *      image built from `.`) that does not dockerignore the path is rebuilt too: the file is part
 *      of its build context, so its image changes.
 * 5. Anything else -> ignore.
 * Rules 1-2 do not stop rule 4: a manifest kept inside a build context also changes that image.
 * An image rebuilt in the same batch has its syncs dropped (the new image carries the files).
 * Directory additions, and removals no sync rule matches, are ignored: their files arrive as their
 * own changes (a removal matching a sync rule deletes the whole directory in the container).
 */
import path from 'node:path';
import type { Artifact, Config } from '../config/load.js';
import { buildOrder, dependentsOf } from '../shared/artifact-graph.js';
import type { ChangeEvent } from '../events.js';
import type { ContextFilter } from '../shared/context-filter.js';
import { globMatcher as compileGlob } from '../shared/globs.js';
import { relativeInside } from '../shared/paths.js';
import { netChanges, type FileChange } from '../watch/changes.js';
import { matchingIgnoreGlob } from '../watch/ignore.js';

/** Kept under its old name for the dev engine's imports. */
export type { ContextFilter as ContextFilterLike } from '../shared/context-filter.js';

export interface SyncOp {
  image: string;
  /** containerPath: absolute, or relative to the image's WORKDIR (the Syncer resolves it). */
  copy: Array<{ localPath: string; containerPath: string }>;
  /** containerPaths to remove (files or whole directories). */
  delete: string[];
  /** Local paths behind `delete` (for hooks' DEVLOOP_FILES_DELETED); absent when unknown (replay). */
  deletedLocal?: string[];
  /** The artifact's sync hooks this batch triggers, as 0-based indexes into sync.hooks.before/after. */
  hooks?: TriggeredHooks;
  /** Whether the batch restarts the containers' main process (sync.restart and its trigger). */
  restart?: boolean;
}

export interface TriggeredHooks {
  before: number[];
  after: number[];
}

export interface Plan {
  reloadConfig: boolean;
  /** At most one SyncOp per image, never for an image in `rebuild`. */
  syncs: SyncOp[];
  /** Images to rebuild, dependents included, in build order. */
  rebuild: string[];
  redeploy: boolean;
  /** Why each change led to its action, for --explain and the dashboard. */
  decisions: ChangeEvent[];
}

export interface PlanState {
  /** Absolute paths of manifest files currently rendered. */
  manifestFiles: ReadonlySet<string>;
  /** Images whose sync is unusable (no tar/sh, read-only): their syncable changes rebuild instead. */
  syncDisabled: ReadonlySet<string>;
  /** Each image's .dockerignore matcher (a value: planning reads no file); an image without one excludes nothing. */
  contextFilters?: ReadonlyMap<string, ContextFilter>;
  /**
   * Images not developed in this session (`devloop dev IMAGE...` named others): a change in their
   * context neither syncs nor rebuilds them (ignore). An image they require that rebuilds still
   * rebuilds them (their image is built from it).
   */
  unwatched?: ReadonlySet<string>;
}

/** Compiled globs, per planChanges call (compiling is most of micromatch's cost). */
type GlobMatcher = (glob: string, subject: string) => boolean;
function globMatcher(): GlobMatcher {
  const compiled = new Map<string, (s: string) => boolean>();
  return (glob, subject) => {
    let m = compiled.get(glob);
    if (!m) {
      m = compileGlob(glob);
      compiled.set(glob, m);
    }
    return m(subject);
  };
}

/** Where a synced file lands: dest joined with the path minus `strip` (when the path starts with it). */
export function containerPathFor(rule: { dest: string; strip?: string }, relPath: string): string {
  const stripped = rule.strip && relPath.startsWith(rule.strip) ? relPath.slice(rule.strip.length) : relPath;
  return path.posix.join(rule.dest, stripped);
}

interface ManifestMatch {
  matched: boolean;
  why: string;
}

function manifestMatch(file: string, config: Config, state: PlanState, match: GlobMatcher): ManifestMatch {
  if (state.manifestFiles.has(file)) return { matched: true, why: 'is a rendered manifest' };
  const rel = relativeInside(config.rootDir, file);
  if (rel !== undefined) {
    const glob = config.deploy.kubectl.manifests.find((g) => match(g, rel));
    if (glob) return { matched: true, why: `matches deploy.kubectl.manifests "${glob}"` };
  }
  for (const k of config.deploy.kustomize.paths) {
    if (relativeInside(path.resolve(config.rootDir, k), file) !== undefined) return { matched: true, why: `is under kustomize path "${k}"` };
  }
  for (const release of config.deploy.helm.releases) {
    if (relativeInside(path.resolve(config.rootDir, release.chart), file) !== undefined) {
      return { matched: true, why: `is under the chart of helm release "${release.name}"` };
    }
    const values = release.valuesFiles.find((v) => path.resolve(config.rootDir, v) === file);
    if (values) return { matched: true, why: `is a values file of helm release "${release.name}"` };
  }
  return { matched: false, why: '' };
}

/**
 * The .dockerignore pattern excluding `rel` (undefined: excluded, pattern unknown), or false.
 * `dirCache` holds, per planChanges call and filter, the answer for each directory already asked
 * about: a burst in one directory asks about its parents once, not once per file.
 */
function dockerignorePattern(filter: ContextFilter | undefined, rel: string, isDir: boolean, dirCache?: Map<string, string | undefined | false>): string | undefined | false {
  if (!filter) return false;
  // A path is excluded when it or any directory above it is (the watcher prunes whole directories).
  const parent = rel.lastIndexOf('/');
  if (parent > 0) {
    const dir = rel.slice(0, parent);
    let above = dirCache?.get(dir);
    if (above === undefined && !dirCache?.has(dir)) {
      above = dockerignorePattern(filter, dir, true, dirCache);
      dirCache?.set(dir, above);
    }
    if (above !== false) return above;
  }
  if (filter.isExcluded(rel, isDir)) return filter.excludedBy?.(rel, isDir);
  return false;
}

/**
 * Whether a hook (or restart) with `trigger` globs runs for a batch touching `relPaths`
 * (context-relative): the first matching glob, `true` when there is no trigger (every sync), or
 * `false` when none matches.
 */
export function triggerMatch(trigger: readonly string[] | undefined, relPaths: readonly string[], match: (glob: string, subject: string) => boolean = globMatcher()): string | true | false {
  if (trigger === undefined) return relPaths.length > 0;
  for (const glob of trigger) if (relPaths.some((rel) => match(glob, rel))) return glob;
  return false;
}

/**
 * The sync hooks and restart of `artifact` that a batch touching these local paths triggers. Used
 * by the planner for each batch and by the dev loop for a replay (whose files re-run the `after`
 * container hooks they would have triggered).
 */
export function hooksTriggeredBy(artifact: Artifact, localPaths: readonly string[], match: (glob: string, subject: string) => boolean = globMatcher()): { hooks: TriggeredHooks; restart: boolean } {
  const rels = localPaths.map((p) => relativeInside(artifact.contextDir, p)).filter((r): r is string => r !== undefined && r !== '');
  const pick = (list: ReadonlyArray<{ trigger?: string[] }> | undefined) =>
    (list ?? []).flatMap((hook, index) => (triggerMatch(hook.trigger, rels, match) === false ? [] : [index]));
  const hooks = artifact.sync?.hooks;
  const restart = artifact.sync?.restart;
  return {
    hooks: { before: pick(hooks?.before), after: pick(hooks?.after) },
    restart: restart !== undefined && triggerMatch(restart.trigger, rels, match) !== false,
  };
}

/** What a synced file makes happen after it is written, for its decision's reason (--explain). */
function afterSyncReason(artifact: Artifact, rel: string, match: GlobMatcher): string {
  const parts: string[] = [];
  const hooks = artifact.sync?.hooks;
  for (const when of ['before', 'after'] as const) {
    (hooks?.[when] ?? []).forEach((hook, i) => {
      const m = triggerMatch(hook.trigger, [rel], match);
      if (m === false) return;
      const where = hook.host ? 'on this machine' : hook.container?.where === 'one' ? 'in one container' : 'in each container';
      parts.push(`runs sync/${when} #${i + 1} ${where}${m === true ? ' (no trigger: every sync)' : ` (trigger "${m}")`}`);
    });
  }
  const restart = artifact.sync?.restart;
  if (restart) {
    const m = triggerMatch(restart.trigger, [rel], match);
    if (m !== false) parts.push(`then restarts the main process of each container, files in place (sync.restart${m === true ? '' : `, trigger "${m}"`})`);
  }
  return parts.length ? `; ${parts.join('; ')}` : '';
}

/** Computes the plan for one batch. Pure: same inputs, same plan. */
export function planChanges(changes: FileChange[], config: Config, state: PlanState): Plan {
  const decisions: ChangeEvent[] = [];
  let reloadConfig = false;
  let redeploy = false;
  const rebuildCauses = new Set<string>();
  const syncByImage = new Map<string, { copy: Map<string, string>; delete: Set<string>; deletedLocal: Set<string> }>();
  // Decisions whose reason names dependents are completed once the rebuild set is known.
  const rebuildDecisions: Array<{ decision: ChangeEvent; image: string; prefix: string }> = [];

  const artifacts = config.build.artifacts;
  const rootDir = config.rootDir;
  const match = globMatcher();
  const net = netChanges(changes);
  /** Per filter, the .dockerignore answer for each directory asked about in this batch. */
  const dockerignoreDirs = new Map<ContextFilter, Map<string, string | undefined | false>>();

  for (const change of net) {
    const file = change.path;
    const rootRel = relativeInside(rootDir, file);
    const shown = rootRel ?? file;
    let decided = false;

    if (file === config.file || config.source?.files?.includes(file)) {
      reloadConfig = true;
      decided = true;
      decisions.push({ type: 'change', path: file, action: 'reload-config', reason: `${shown} is the config file: reload it (a config that fails validation keeps the old one running)` });
    }
    const manifest = change.kind === 'addDir' || change.kind === 'unlinkDir' ? { matched: false, why: '' } : manifestMatch(file, config, state, match);
    if (manifest.matched) {
      redeploy = true;
      decided = true;
      decisions.push({ type: 'change', path: file, action: 'redeploy', reason: `${shown} ${manifest.why}: re-render and re-apply the manifests` });
    }

    if (rootRel !== undefined && rootRel.split('/').includes('.git')) {
      if (!decided) decisions.push({ type: 'change', path: file, action: 'ignore', reason: `${shown} is inside .git` });
      continue;
    }
    const ignoreGlob = rootRel !== undefined ? matchingIgnoreGlob(rootRel, config.watch.ignore, match) : undefined;
    if (ignoreGlob !== undefined) {
      if (!decided) decisions.push({ type: 'change', path: file, action: 'ignore', reason: `${shown} matches watch.ignore "${ignoreGlob}"` });
      continue;
    }

    const containing = artifacts
      .map((artifact) => ({ artifact, rel: relativeInside(artifact.contextDir, file) }))
      .filter((c): c is { artifact: Artifact; rel: string } => c.rel !== undefined && c.rel !== '')
      .sort((a, b) => b.artifact.contextDir.length - a.artifact.contextDir.length);

    if (containing.length === 0) {
      if (!decided) decisions.push({ type: 'change', path: file, action: 'ignore', reason: `${shown} is not in any artifact context, manifest or the config file` });
      continue;
    }
    if (change.kind === 'addDir') {
      decisions.push({ type: 'change', path: file, artifact: containing[0].artifact.image, action: 'ignore', reason: `directory ${shown} added: its files are planned one by one` });
      continue;
    }

    const isDir = change.kind === 'unlinkDir';
    containing.forEach(({ artifact, rel }, index) => {
      const image = artifact.image;
      if (state.unwatched?.has(image)) {
        decisions.push({ type: 'change', path: file, artifact: image, action: 'ignore', reason: `${image} is not watched (devloop dev was given other artifacts)` });
        return;
      }
      const filter = state.contextFilters?.get(image);
      let dirCache = filter && dockerignoreDirs.get(filter);
      if (filter && !dirCache) dockerignoreDirs.set(filter, (dirCache = new Map()));
      const excludedBy = dockerignorePattern(filter, rel, isDir, dirCache);
      if (excludedBy !== false) {
        const pattern = excludedBy === undefined ? '' : ` pattern "${excludedBy}"`;
        decisions.push({ type: 'change', path: file, artifact: image, action: 'ignore', reason: `${rel} is excluded by the .dockerignore of ${image}${pattern}` });
        return;
      }
      const mostSpecific = index === 0;
      const rules = artifact.sync?.manual ?? [];
      const matching = mostSpecific ? rules.map((r, i) => ({ rule: r, index: i })).filter(({ rule }) => match(rule.src, rel)) : [];
      const everyMatch = artifact.sync?.everyMatch === true;
      // sync.everyMatch (Skaffold's behaviour): a file is copied for every rule it matches;
      // otherwise the first matching rule wins and the others are named as unused.
      const used = everyMatch ? matching : matching.slice(0, 1);
      if (used.length > 0) {
        const targets = used.map(({ rule }) => containerPathFor(rule, rel));
        const rulesText = used.map(({ rule, index }) => `${index + 1} "${rule.src}"`).join(' and ');
        const note =
          matching.length > 1
            ? everyMatch
              ? ` (a file matching several rules is copied for each, as Skaffold does: sync.everyMatch)`
              : ` (also matches ${matching.slice(1).map(({ rule, index }) => `rule ${index + 1} "${rule.src}"`).join(', ')}: the first match wins)`
            : '';
        if (state.syncDisabled.has(image)) {
          rebuildCauses.add(image);
          const decision: ChangeEvent = { type: 'change', path: file, artifact: image, action: 'rebuild', reason: '' };
          rebuildDecisions.push({ decision, image, prefix: `matched sync rule ${rulesText} but sync is unusable for ${image}: rebuild ${image}` });
          decisions.push(decision);
          return;
        }
        const op = syncByImage.get(image) ?? { copy: new Map<string, string>(), delete: new Set<string>(), deletedLocal: new Set<string>() };
        syncByImage.set(image, op);
        const removing = change.kind === 'unlink' || change.kind === 'unlinkDir';
        if (removing) op.deletedLocal.add(file);
        else op.deletedLocal.delete(file);
        for (const containerPath of targets) {
          if (removing) {
            op.copy.delete(containerPath);
            op.delete.add(containerPath);
          } else {
            op.delete.delete(containerPath);
            op.copy.set(containerPath, file);
          }
        }
        decisions.push({
          type: 'change',
          path: file,
          artifact: image,
          action: 'sync',
          reason: `matched sync rule${used.length > 1 ? 's' : ''} ${rulesText} -> ${removing ? 'delete ' : ''}${targets.join(', ')}${note}${afterSyncReason(artifact, rel, match)}`,
        });
        return;
      }
      if (isDir) {
        decisions.push({ type: 'change', path: file, artifact: image, action: 'ignore', reason: `directory ${rel} removed: its files are planned one by one` });
        return;
      }
      rebuildCauses.add(image);
      const why = mostSpecific
        ? `no sync rule matches ${rel}`
        : `${rel} is in the build context of ${image} (${relativeInside(rootDir, artifact.contextDir) || '.'}) and not dockerignored there`;
      const decision: ChangeEvent = { type: 'change', path: file, artifact: image, action: 'rebuild', reason: '' };
      rebuildDecisions.push({ decision, image, prefix: `${why}: rebuild ${image}` });
      decisions.push(decision);
    });
  }

  const rebuildSet = new Set(dependentsOf(config, rebuildCauses));
  const rebuild = buildOrder(artifacts.filter((a) => rebuildSet.has(a.image))).map((a) => a.image);
  for (const { decision, image, prefix } of rebuildDecisions) {
    const dependents = dependentsOf(config, [image]).filter((i) => i !== image);
    decision.reason = `${prefix} (+ dependents: ${dependents.length ? dependents.join(', ') : 'none'})`;
  }

  const syncs: SyncOp[] = [];
  for (const [image, op] of syncByImage) {
    if (rebuildSet.has(image)) {
      for (const d of decisions) {
        if (d.artifact === image && d.action === 'sync') d.reason += ` (dropped: ${image} is rebuilt in this batch)`;
      }
      continue;
    }
    const copy = [...op.copy].map(([containerPath, localPath]) => ({ localPath, containerPath }));
    const deletedLocal = [...op.deletedLocal];
    const artifact = artifacts.find((a) => a.image === image)!;
    const triggered = hooksTriggeredBy(artifact, [...copy.map((c) => c.localPath), ...deletedLocal], match);
    syncs.push({
      image,
      copy,
      delete: [...op.delete],
      ...(deletedLocal.length ? { deletedLocal } : {}),
      ...(triggered.hooks.before.length || triggered.hooks.after.length ? { hooks: triggered.hooks } : {}),
      ...(triggered.restart ? { restart: true } : {}),
    });
  }

  return { reloadConfig, syncs, rebuild, redeploy, decisions };
}
