/**
 * The checks the schema cannot make: duplicate images, contexts and Dockerfiles that exist,
 * requirements that name an artifact, sync rules that stay inside the context and the container,
 * and no cycle in `requires` (found by the artifact graph, src/shared/artifact-graph.ts). Each problem is located in the file.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { findRequiresCycle } from '../shared/artifact-graph.js';
import type { ConfigProblem } from '../errors.js';
import { closest } from '../shared/suggest.js';
import { isPlainObject } from './plain.js';
import { formatPath, type Locate } from './locate.js';
import type { ArtifactConfig } from './schema.js';

/** The part of the config the semantic checks read. `unreadable` entries keep the indexes aligned. */
export interface SemanticView {
  build: {
    artifacts: Array<
      Pick<ArtifactConfig, 'image' | 'context' | 'dockerfile' | 'requires'> & {
        sync?: { manual: Array<{ src: string; dest: string }> };
        unreadable?: boolean;
        skipFileChecks?: boolean;
      }
    >;
  };
}

/**
 * The artifacts of a document that failed schema validation, read defensively: fields of the wrong
 * type are left out (the schema already reported them), defaults filled as the schema would.
 */
export function lenientView(data: unknown): SemanticView {
  const str = (v: unknown, fallback: string) => (typeof v === 'string' ? v : fallback);
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const build = isPlainObject(data) && isPlainObject(data.build) ? data.build : {};
  const artifacts = list(build.artifacts).map((entry, i) => {
    const a = isPlainObject(entry) ? entry : {};
    const sync = isPlainObject(a.sync) ? a.sync : {};
    return {
      unreadable: !isPlainObject(entry),
      // Without a readable context (e.g. the key is misspelt) the default "." would give false alarms.
      skipFileChecks: typeof a.context !== 'string',
      image: str(a.image, `#${i}`),
      context: str(a.context, '.'),
      dockerfile: str(a.dockerfile, 'Dockerfile'),
      requires: list(a.requires)
        .filter(isPlainObject)
        .filter((r) => typeof r.image === 'string')
        .map((r) => ({ image: r.image as string, alias: str(r.alias, '') })),
      sync: {
        manual: list(sync.manual)
          .filter(isPlainObject)
          .filter((r) => typeof r.src === 'string' && typeof r.dest === 'string')
          .map((r) => ({ src: r.src as string, dest: r.dest as string })),
      },
    };
  });
  return { build: { artifacts } };
}

export function checkSemantics(config: SemanticView, rootDir: string, locate: Locate, skipFileChecks: boolean): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (segments: PropertyKey[], message: string, fix?: string) =>
    problems.push({ ...locate(segments), path: formatPath(segments), message, fix });

  const artifacts = config.build.artifacts;
  const byImage = new Map<string, number>();
  artifacts.forEach((a, i) => {
    const first = byImage.get(a.image);
    if (first !== undefined) {
      add(['build', 'artifacts', i, 'image'], `duplicate image "${a.image}" (also at build.artifacts[${first}])`, 'give each artifact its own image name');
    } else {
      byImage.set(a.image, i);
    }
  });

  artifacts.forEach((a, i) => {
    if ('unreadable' in a && a.unreadable) return;
    const contextDir = path.resolve(rootDir, a.context);
    if (!skipFileChecks && !('skipFileChecks' in a && a.skipFileChecks)) {
      if (!existsSync(contextDir) || !statSync(contextDir).isDirectory()) {
        add(['build', 'artifacts', i, 'context'], `context directory ${contextDir} does not exist`, 'the path is relative to the config file');
      } else {
        const dockerfile = path.resolve(contextDir, a.dockerfile);
        if (!existsSync(dockerfile)) {
          add(
            ['build', 'artifacts', i, existsInRaw(a, 'dockerfile') ? 'dockerfile' : 'context'],
            `Dockerfile ${dockerfile} does not exist`,
            'dockerfile is relative to the context',
          );
        }
      }
    }
    a.requires.forEach((r, j) => {
      if (r.image === a.image) add(['build', 'artifacts', i, 'requires', j, 'image'], `"${a.image}" requires itself`);
      else if (!byImage.has(r.image)) {
        const suggestion = closest(r.image, [...byImage.keys()]);
        add(
          ['build', 'artifacts', i, 'requires', j, 'image'],
          `requires "${r.image}", which is not an artifact`,
          suggestion ? `did you mean "${suggestion}"?` : 'add it to build.artifacts',
        );
      }
    });
    (a.sync?.manual ?? []).forEach((rule, j) => {
      if (rule.dest.split(/[\\/]+/).includes('..')) {
        add(['build', 'artifacts', i, 'sync', 'manual', j, 'dest'], `dest "${rule.dest}" escapes with ".."`, 'use an absolute path in the container, e.g. /app/src');
      }
      if (path.isAbsolute(rule.src) || rule.src.split('/').includes('..')) {
        add(['build', 'artifacts', i, 'sync', 'manual', j, 'src'], `src "${rule.src}" must be a glob relative to the context`, 'remove the leading "/" or ".."');
      }
    });
  });

  const cycle = findRequiresCycle(artifacts);
  if (cycle) {
    const i = byImage.get(cycle[0]) ?? 0;
    add(['build', 'artifacts', i, 'requires'], `requires form a cycle: ${cycle.join(' -> ')}`, 'remove one of these requires');
  }
  return problems;
}

function existsInRaw(a: Pick<ArtifactConfig, 'dockerfile'>, key: 'dockerfile'): boolean {
  return key === 'dockerfile' ? a.dockerfile !== 'Dockerfile' : true;
}
