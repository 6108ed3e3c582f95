/**
 * The `requires` graph of the artifacts: which images a selection needs, in which order they build,
 * which images depend on others, and whether `requires` forms a cycle. Pure functions over anything
 * shaped like the config's artifacts (an image and the images it requires). It lives in shared/
 * because the config loader (findRequiresCycle: a cycle is reported at load time, located in the
 * file), the planner (rebuild order) and the build (selection, order) all read it, and config sits
 * upstream of both.
 */
import { UsageError } from '../errors.js';
import { closest } from './suggest.js';

/** What the graph reads of an artifact (config/schema.ts's ArtifactConfig has it). */
export interface Graphable {
  image: string;
  requires: ReadonlyArray<{ image: string }>;
}

/**
 * The named images plus everything they require, transitively, in config order.
 * Throws UsageError (with a did-you-mean) for a name that is not an artifact.
 */
export function withRequirements<A extends Graphable>(artifacts: readonly A[], images: readonly string[]): A[] {
  const byImage = new Map(artifacts.map((a) => [a.image, a]));
  const wanted = new Set<string>();
  const visit = (image: string) => {
    if (wanted.has(image)) return;
    const artifact = byImage.get(image);
    if (!artifact) return;
    wanted.add(image);
    for (const r of artifact.requires) visit(r.image);
  };
  for (const image of images) {
    if (!byImage.has(image)) throw unknownImage(image, [...byImage.keys()]);
    visit(image);
  }
  return artifacts.filter((a) => wanted.has(a.image));
}

export function unknownImage(image: string, known: string[]): UsageError {
  const suggestion = closest(image, known);
  return new UsageError(`"${image}" is not an artifact of this config`, {
    hint: suggestion ? `Did you mean ${suggestion}? Artifacts: ${known.join(', ')}.` : `Artifacts: ${known.join(', ') || '(none)'}.`,
  });
}

/**
 * The images named on a command line (`devloop dev posts comments`): each name is an artifact's
 * image (`blog/posts`) or the last path segment of one (`posts`). Returns the images, deduplicated,
 * in config order. Throws UsageError listing the valid names for an unknown name, and for a segment
 * that several images end with.
 */
export function resolveArtifactNames(artifacts: readonly Pick<Graphable, 'image'>[], names: readonly string[]): string[] {
  const images = artifacts.map((a) => a.image);
  const lastSegment = (image: string) => image.slice(image.lastIndexOf('/') + 1);
  const valid = () => images.map((i) => (images.filter((j) => lastSegment(j) === lastSegment(i)).length === 1 && lastSegment(i) !== i ? `${lastSegment(i)} (${i})` : i)).join(', ');
  const wanted = new Set<string>();
  for (const name of names) {
    if (images.includes(name)) {
      wanted.add(name);
      continue;
    }
    const bySegment = images.filter((i) => lastSegment(i) === name);
    if (bySegment.length === 1) {
      wanted.add(bySegment[0]);
      continue;
    }
    if (bySegment.length > 1) {
      throw new UsageError(`"${name}" names several artifacts: ${bySegment.join(', ')}`, { hint: `Name the image in full, e.g. ${bySegment[0]}.` });
    }
    const suggestion = closest(name, [...images, ...images.map(lastSegment)]);
    throw new UsageError(`"${name}" is not an artifact of this config`, {
      hint: `${suggestion ? `Did you mean ${suggestion}? ` : ''}Artifacts: ${valid() || '(none)'}.`,
    });
  }
  return images.filter((i) => wanted.has(i));
}

/**
 * The given images plus every image that requires one of them, transitively (the images that must
 * rebuild when these change), in config order. Unknown names are ignored.
 */
export function dependentsOf(config: { build: { artifacts: readonly Graphable[] } }, images: Iterable<string>): string[] {
  const artifacts = config.build.artifacts as readonly Graphable[];
  const result = new Set<string>(images);
  let grew = true;
  while (grew) {
    grew = false;
    for (const a of artifacts) {
      if (result.has(a.image)) continue;
      if (a.requires.some((r) => result.has(r.image))) {
        result.add(a.image);
        grew = true;
      }
    }
  }
  return artifacts.map((a) => a.image).filter((image) => result.has(image));
}

/**
 * Artifacts in an order where every artifact comes after what it requires (stable: config order
 * among independent ones). Requirements outside `artifacts` are ignored.
 */
export function buildOrder<A extends Graphable>(artifacts: readonly A[]): A[] {
  const byImage = new Map(artifacts.map((a) => [a.image, a]));
  const done = new Set<string>();
  const order: A[] = [];
  const visit = (a: A, depth: number) => {
    if (done.has(a.image) || depth > artifacts.length) return;
    for (const r of a.requires) {
      const dep = byImage.get(r.image);
      if (dep) visit(dep, depth + 1);
    }
    if (!done.has(a.image)) {
      done.add(a.image);
      order.push(a);
    }
  };
  for (const a of artifacts) visit(a, 0);
  return order;
}

/** A cycle in `requires` as a list of images ending where it started, or undefined. */
export function findRequiresCycle(artifacts: readonly Graphable[]): string[] | undefined {
  const edges = new Map(artifacts.map((a) => [a.image, a.requires.map((r) => r.image)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (image: string): string[] | undefined => {
    if (state.get(image) === 'done') return undefined;
    if (state.get(image) === 'visiting') return [...stack.slice(stack.indexOf(image)), image];
    state.set(image, 'visiting');
    stack.push(image);
    for (const next of edges.get(image) ?? []) {
      if (next === image || !edges.has(next)) continue;
      const found = visit(next);
      if (found) return found;
    }
    stack.pop();
    state.set(image, 'done');
    return undefined;
  };
  for (const image of edges.keys()) {
    const found = visit(image);
    if (found) return found;
  }
  return undefined;
}
