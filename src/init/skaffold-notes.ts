/**
 * Where each part of a devloop document written from a Skaffold config came from, as comments:
 * `from skaffold.yaml:12 build.artifacts[0]`. Reads the Skaffold file and the configs it
 * `requires` by local path (for a multi-config project); a part it cannot locate gets no comment
 * beyond the file's header. Only reads files; the mapping itself is the Skaffold reader's.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isMap, isSeq, LineCounter, parseAllDocuments, type Node as YamlNode } from 'yaml';
import { isPlainObject } from '../config/issues.js';
import { formatPath } from '../config/locate.js';
import type { Note } from './serialise.js';

/** One Skaffold config document, with the line of any path in it. */
interface SkaffoldSource {
  file: string;
  data: Record<string, unknown>;
  line(segments: Array<string | number>): number | undefined;
}

/** At most this many files are followed through `requires`. */
const MAX_FILES = 32;

/** Every config document of `file` and of the configs it requires by local path, transitively. */
export function skaffoldSources(file: string): SkaffoldSource[] {
  const sources: SkaffoldSource[] = [];
  const seen = new Set<string>();
  const queue = [path.resolve(file)];
  while (queue.length > 0 && seen.size < MAX_FILES) {
    const current = queue.shift()!;
    if (seen.has(current) || !existsSync(current)) continue;
    seen.add(current);
    const lineCounter = new LineCounter();
    const docs = parseAllDocuments(readFileSync(current, 'utf8'), { lineCounter });
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      const data: unknown = doc.toJS();
      if (!isPlainObject(data)) continue;
      sources.push({
        file: current,
        data,
        line: (segments) => {
          // The line of the key for a map entry, of the item for a list item.
          let node: unknown = doc.contents;
          let range = (node as YamlNode | null)?.range;
          for (const seg of segments) {
            if (isMap(node)) {
              const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
              if (!pair) return undefined;
              range = (pair.key as YamlNode | null)?.range ?? undefined;
              node = pair.value;
            } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
              node = node.items[seg];
              range = (node as YamlNode).range;
            } else return undefined;
          }
          return range ? lineCounter.linePos(range[0]).line : undefined;
        },
      });
      for (const req of Array.isArray(data.requires) ? data.requires : []) {
        if (!isPlainObject(req) || typeof req.path !== 'string') continue;
        const target = path.resolve(path.dirname(current), req.path);
        queue.push(existsSync(target) && statSync(target).isDirectory() ? path.join(target, 'skaffold.yaml') : target);
      }
    }
  }
  return sources;
}

/** Comments for the parts of `document` (a devloop document) found in `sources`. */
export function skaffoldNotes(document: Record<string, unknown>, sources: SkaffoldSource[], rootDir: string): Note[] {
  const notes: Note[] = [];
  const where = (s: SkaffoldSource, segments: Array<string | number>) => {
    const line = s.line(segments);
    const file = path.relative(rootDir, s.file) || path.basename(s.file);
    return `${file}${line ? `:${line}` : ''} ${formatPath(segments)}`;
  };
  /** The first source holding one of `candidates` (Skaffold paths), as "file:line key". */
  const firstOf = (...candidates: Array<Array<string | number>>): string | undefined => {
    for (const s of sources) {
      for (const c of candidates) if (s.line(c) !== undefined) return where(s, c);
    }
    return undefined;
  };
  const add = (at: Array<string | number>, text: string | undefined) => {
    if (text) notes.push({ path: at, text });
  };
  const doc = document as Record<string, any>;

  add(['metadata'], from(firstOf(['metadata', 'name'])) ?? 'the Skaffold config names no metadata.name: the directory name, as devloop defaults it');

  const build = doc.build as Record<string, unknown> | undefined;
  if (build) {
    add(['build'], from(firstOf(['build'])));
    add(['build', 'tagPolicy'], tagPolicyNote(sources, firstOf));
    if ('push' in build) add(['build', 'push'], from(firstOf(['build', 'local', 'push'])));
    if ('concurrency' in build) add(['build', 'concurrency'], from(firstOf(['build', 'local', 'concurrency'])));
    const artifacts = Array.isArray(build.artifacts) ? build.artifacts : [];
    artifacts.forEach((artifact: Record<string, unknown>, i: number) => {
      const found = findInLists(sources, [['build', 'artifacts']], (item) => item.image === artifact.image);
      add(['build', 'artifacts', i], found ? `from ${where(found.source, found.at)}` : undefined);
    });
  }

  const deploy = doc.deploy as Record<string, any> | undefined;
  if (deploy) {
    if ('kubeContext' in deploy) add(['deploy', 'kubeContext'], from(firstOf(['deploy', 'kubeContext'])));
    if ('namespace' in deploy) add(['deploy', 'namespace'], from(firstOf(['deploy', 'kubectl', 'defaultNamespace'])));
    if ('statusCheckDeadlineSeconds' in deploy) add(['deploy', 'statusCheckDeadlineSeconds'], from(firstOf(['deploy', 'statusCheckDeadlineSeconds'])));
    if (deploy.kubectl) {
      const origin = firstOf(['manifests', 'rawYaml'], ['deploy', 'kubectl', 'manifests']);
      add(['deploy', 'kubectl'], origin ? `from ${origin}` : 'the Skaffold config names no manifests: Skaffold\'s default, k8s/*.yaml');
    }
    if (deploy.kustomize) add(['deploy', 'kustomize'], from(firstOf(['manifests', 'kustomize'], ['deploy', 'kustomize'])));
    if (deploy.helm) add(['deploy', 'helm'], from(firstOf(['manifests', 'helm'], ['deploy', 'helm'])));
  }

  const forwards = Array.isArray(doc.portForward) ? doc.portForward : [];
  forwards.forEach((pf: Record<string, unknown>, i: number) => {
    const found = findInLists(sources, [['portForward']], (item) => item.resourceName === pf.resourceName && String(item.port) === String(pf.port));
    add(['portForward', i], found ? `from ${where(found.source, found.at)}` : undefined);
  });
  return notes;
}

function from(origin: string | undefined): string | undefined {
  return origin ? `from ${origin}` : undefined;
}

function tagPolicyNote(sources: SkaffoldSource[], firstOf: (...c: Array<Array<string | number>>) => string | undefined): string | undefined {
  const origin = firstOf(['build', 'tagPolicy']);
  if (!origin) return undefined;
  const usesSha256 = sources.some((s) => isPlainObject((s.data.build as Record<string, unknown> | undefined)?.tagPolicy) && 'sha256' in ((s.data.build as Record<string, any>).tagPolicy));
  return usesSha256
    ? `from ${origin}: Skaffold's sha256 (tag latest, deploy by digest) is inputDigest here, which also names each distinct image content`
    : `from ${origin}`;
}

/** The first item, in any source, of a list at one of `lists` for which `match` holds. */
function findInLists(
  sources: SkaffoldSource[],
  lists: Array<Array<string | number>>,
  match: (item: Record<string, unknown>) => boolean,
): { source: SkaffoldSource; at: Array<string | number> } | undefined {
  for (const source of sources) {
    for (const list of lists) {
      let node: unknown = source.data;
      for (const seg of list) node = isPlainObject(node) ? node[seg as string] : undefined;
      if (!Array.isArray(node)) continue;
      const index = node.findIndex((item) => isPlainObject(item) && match(item));
      if (index >= 0) return { source, at: [...list, index] };
    }
  }
  return undefined;
}
