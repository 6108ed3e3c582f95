/**
 * `devloop init` from the files of a project without a Skaffold config: the artifacts paired from
 * its Dockerfiles and manifests (discover.ts), the manifests it found, and, as comments, what it
 * could not decide.
 *
 * Contract: `writeTreeConfig` returns text that devloop's own loader reads (it is parsed before it
 * is returned; a failure there is a `bug` DevloopError). Questions left unanswered appear as
 * comments with the lines to add, never as guesses in the config.
 */
import path from 'node:path';
import { parseConfig } from '../config/load.js';
import { ArtifactSchema } from '../config/schema.js';
import { projectNameFrom } from '../config/skaffold/read.js';
import { DevloopError, UsageError } from '../errors.js';
import { artifactFor, pairImages, scanProject, type Artifact, type Pairing, type ProjectScan, type Question } from './discover.js';
import { INIT_FILE_NAME } from './from-skaffold.js';
import { renderYaml, withoutDefaults, type Document_, type Note } from './serialise.js';

export interface TreeInit {
  root: string;
  name: string;
  scan: ProjectScan;
  pairing: Pairing;
}

/** Scans `root` and pairs what it found. Throws a UsageError when there is nothing to configure. */
export function planTreeInit(root: string): TreeInit {
  const scan = scanProject(root);
  if (scan.dockerfiles.length === 0 && scan.manifests.length === 0) {
    throw new UsageError(`devloop init found no skaffold.yaml, Dockerfile or Kubernetes manifest under ${root}`, {
      hint: 'Run it in your project directory, or start from devloop.config.example.yaml in the devloop package.',
    });
  }
  const name = projectNameFrom(root);
  return { root, name, scan, pairing: pairImages(scan, name) };
}

/**
 * The config text for `plan`, with `answers` (question -> image name, or undefined to leave that
 * Dockerfile out) applied; questions without an answer become comments.
 */
export function writeTreeConfig(plan: TreeInit, answers: ReadonlyMap<Question, string | undefined>): { file: string; text: string } {
  const { scan, pairing } = plan;
  const artifacts: Artifact[] = [...pairing.artifacts];
  const open: Question[] = [];
  const skipped: Question[] = [];
  for (const q of pairing.questions) {
    if (!answers.has(q)) open.push(q);
    else {
      const image = answers.get(q);
      if (image) artifacts.push(artifactFor(q.dockerfile, image, scan));
      else skipped.push(q);
    }
  }
  artifacts.sort((a, b) => a.context.localeCompare(b.context) || a.image.localeCompare(b.image));
  const built = new Set(artifacts.map((a) => a.image));
  const external = scan.images.filter((u) => !built.has(u.image));

  // With no raw manifests, the one kustomization nothing else uses is what the project deploys;
  // beside raw manifests (which it may list too) or among several, it is left to the user.
  const kustomizations = scan.manifests.length === 0 && scan.topKustomizations.length === 1 ? scan.topKustomizations : [];
  const document: Document_ = withoutDefaults({
    apiVersion: 'devloop/v1',
    kind: 'Config',
    metadata: { name: plan.name },
    build: { artifacts: artifacts.map(({ image, context, dockerfile }) => ({ image, context, dockerfile })) },
    deploy: { kubectl: { manifests: manifestGlobs(scan) }, kustomize: { paths: kustomizations } },
  });
  const notes: Note[] = [
    { path: ['metadata'], text: 'the directory name; every object devloop applies is labelled with it' },
    ...artifacts.map((a, i) => ({
      path: ['build', 'artifacts', i],
      text: [
        `built from ${a.context === '.' ? '' : `${a.context}/`}${a.dockerfile}`,
        ...a.usedBy.map((u) => `deployed by ${u}`),
        ...a.fromArgs.map((arg) => fromArgNote(arg)),
      ].join('\n'),
    })),
    ...(scan.manifests.length > 0 ? [{ path: ['deploy', 'kubectl'], text: 'the Kubernetes manifests found in the tree' }] : []),
    ...(kustomizations.length > 0
      ? [{ path: ['deploy', 'kustomize'], text: 'the kustomization found in the tree that no other one uses (rendered with kubectl kustomize)' }]
      : []),
  ];
  const header = [
    `Written by \`devloop init\` from the files under this directory: ${count(scan.dockerfiles.length, 'Dockerfile')}, ${count(scan.manifests.length, 'manifest file')}.`,
    "Keys left out take devloop's defaults (every key, with what it does: devloop.config.example.yaml in",
    'the devloop package). To copy files into running containers instead of rebuilding, add sync rules',
    '(build.artifacts[].sync.manual); to reach a pod from this machine, add portForward.',
    ...(external.length > 0 ? [`Deployed as written (no Dockerfile here builds them): ${external.map((u) => u.image).join(', ')}.`] : []),
    ...scan.charts.map((c) => `Not read: the Helm chart in ${c}/ (add it under deploy.helm.releases to deploy it).`),
    ...scan.kustomizations
      .filter((k) => !kustomizations.includes(k) && !(kustomizations.length > 0 && !scan.topKustomizations.includes(k)))
      .map((k) => `Not read: the kustomization in ${k}/ (add it under deploy.kustomize.paths to deploy it).`),
    ...skipped.map((q) => `Left out, as answered: ${q.dockerfile.file}.`),
  ];
  const footer = open.flatMap((q) => [
    `Unanswered: which image does ${q.dockerfile.file} build? (${q.why})`,
    ...(q.candidates.length > 0 ? [`Images the manifests use: ${q.candidates.join(', ')}.`] : []),
    'To build it, add under build.artifacts:',
    `  - image: ${q.suggested}`,
    ...(q.dockerfile.context === '.' ? [] : [`    context: ${q.dockerfile.context}`]),
    ...(path.posix.basename(q.dockerfile.file) === 'Dockerfile' ? [] : [`    dockerfile: ${path.posix.basename(q.dockerfile.file)}`]),
    ...q.dockerfile.fromArgs.map((arg) => fromArgNote(arg)),
    '',
  ]);
  const text = renderYaml(document, header, notes, footer);
  const file = path.join(plan.root, INIT_FILE_NAME);
  try {
    parseConfig(text, file);
  } catch (error) {
    throw new DevloopError('bug', `devloop init wrote a config its own loader rejects: ${(error as Error).message}`, {
      details: (error as DevloopError).details,
      hint: 'Please report this; meanwhile write devloop.config.yaml from devloop.config.example.yaml.',
    });
  }
  return { file, text };
}

/** The question as asked on a terminal. */
export function questionText(q: Question): string {
  const choices = q.candidates.map((c, i) => `  ${i + 1}) ${c}`);
  return [
    `Which image does ${q.dockerfile.file} build? (${q.why})`,
    ...choices,
    `Answer with ${choices.length > 0 ? `a number, ` : ''}an image name, or nothing to leave it out: `,
  ].join('\n');
}

/** The image an answer names: a choice's number, a name, or undefined for none. Throws a UsageError for an invalid name. */
export function parseAnswer(q: Question, answer: string): string | undefined {
  const text = answer.trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) {
    const choice = q.candidates[Number(text) - 1];
    if (!choice) throw new UsageError(`there is no choice ${text}`, { hint: `Answer 1 to ${q.candidates.length}, an image name, or nothing.` });
    return choice;
  }
  if (!ArtifactSchema.shape.image.safeParse(text).success) {
    throw new UsageError(`"${text}" is not an image name without a tag`, { hint: 'Write it like shop/api or localhost:5000/shop/api.' });
  }
  return text;
}

/** Globs for the manifest files: `dir/*.yaml` where every such file of the directory is a manifest. */
function manifestGlobs(scan: ProjectScan): string[] {
  const byDir = new Map<string, string[]>();
  for (const m of scan.manifests) byDir.set(path.posix.dirname(m), [...(byDir.get(path.posix.dirname(m)) ?? []), m]);
  return [...byDir].flatMap(([dir, files]) => {
    const extensions = new Set(files.map((f) => path.posix.extname(f)));
    const yamlInDir = (ext: string) => scan.yamlFiles.filter((f) => path.posix.dirname(f) === dir && path.posix.extname(f) === ext);
    return [...extensions].flatMap((ext) => {
      const all = yamlInDir(ext);
      const mine = files.filter((f) => path.posix.extname(f) === ext);
      return all.length === mine.length ? [`${dir === '.' ? '' : `${dir}/`}*${ext}`] : mine;
    });
  });
}

function fromArgNote(arg: string): string {
  return `Its Dockerfile builds FROM \${${arg}} and gives ${arg} no default: when that is an image built here, add requires: [{ image: IMAGE, alias: ${arg} }]; else buildArgs: { ${arg}: IMAGE }.`;
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}
