/**
 * The command table: names, flags and help text. Each command's implementation is loaded lazily
 * (`load`), so `devloop --version` and `devloop build --help` load nothing heavy.
 *
 * Commands only parse flags and call services: the work lives in the phase folders.
 */
import type { ParseArgsConfig } from 'node:util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export type { CommandContext, CommandModule, GlobalOptions } from './context.js';
import type { CommandModule } from './context.js';

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  description: string;
  options: OptionSpec;
  /** Lines describing each option, for --help. */
  optionHelp: [string, string][];
  load(): Promise<CommandModule>;
}

export const GLOBAL_OPTIONS: OptionSpec = {
  config: { type: 'string', short: 'f' },
  cwd: { type: 'string', short: 'C' },
  profile: { type: 'string', short: 'p', multiple: true },
  output: { type: 'string', short: 'o' },
  'no-color': { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  'default-repo': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

export const GLOBAL_HELP: [string, string][] = [
  ['-f, --config FILE', 'config file (default: devloop.config.yaml in this or a parent directory)'],
  ['-C, --cwd DIR', 'run as if started in DIR'],
  ['-p, --profile NAME', 'activate a profile from the config (repeatable)'],
  ['-o, --output text|json', 'text for people (default), json for one JSON event per line'],
  ['--no-color', 'no colours (also when NO_COLOR is set)'],
  ['-v, --verbose', 'show build steps and debug messages'],
  ['--default-repo REPO', 'build and push every image under REPO, names rewritten as Skaffold does (also DEVLOOP_DEFAULT_REPO, SKAFFOLD_DEFAULT_REPO, build.defaultRepo)'],
  ['-h, --help', 'show help'],
  ['--version', 'print the version'],
];

export const COMMANDS: CommandSpec[] = [
  {
    name: 'dev',
    summary: 'build, deploy, then sync or rebuild on every change; Ctrl-C deletes what was applied',
    usage: 'devloop dev [IMAGE...] [--trigger notify|polling|manual] [--watch-poll-interval MS] [--cleanup=false] [--explain] [--port-forward=false] [--adopt]',
    description:
      'Builds every image, deploys the manifests and watches files. A change that matches a sync rule is copied into the running containers; any other change in a build context rebuilds that image and rolls it out; a changed manifest is re-applied. Ctrl-C or SIGTERM deletes every object devloop applied.\n\n' +
      'IMAGE...: develop only these artifacts (an image, e.g. blog/posts, or its last path segment, e.g. posts): only they are watched, synced and rebuilt. Every other artifact is built once (or taken from the cache) and deployed, and shown as not watched. Manifests and the config file are always watched.',
    options: {
      cleanup: { type: 'string' },
      explain: { type: 'boolean' },
      'port-forward': { type: 'string' },
      push: { type: 'boolean' },
      trigger: { type: 'string' },
      'watch-poll-interval': { type: 'string' },
      adopt: { type: 'boolean' },
    },
    optionHelp: [
      ['--trigger notify', 'act on file-system events (default; watch.trigger in the config)'],
      ['--trigger polling', 'check every watched file each --watch-poll-interval ms, where file events do not arrive (WSL2, network mounts, some Docker Desktop volumes)'],
      ['--trigger manual', 'hold changes and list them; press a in the dashboard (or send a line on stdin without a terminal) to apply them'],
      ['--watch-poll-interval MS', 'with --trigger polling: how often files are checked (default 500; watch.pollIntervalMs)'],
      ['--cleanup=false', 'keep the deployed objects on exit (delete them later with devloop down)'],
      ['--explain', 'print, for each change, the rule it matched and why it synced or rebuilt'],
      ['--port-forward=false', 'do not start the port-forwards of the config'],
      ['--push', 'push images even to a local cluster'],
      ['--adopt', 'take over existing objects of the same name that devloop did not create'],
    ],
    load: () => import('./dev.js'),
  },
  {
    name: 'build',
    summary: 'build every image (or those named), skip unchanged ones, optionally push',
    usage: 'devloop build [IMAGE...] [--push] [--registry HOST:PORT] [--file-output FILE] [--dry-run]',
    description:
      'Builds the artifacts of the config in dependency order, up to build.concurrency at once. An image whose inputs did not change is not rebuilt. Exits 1 if any build failed.',
    options: {
      push: { type: 'boolean' },
      registry: { type: 'string' },
      'file-output': { type: 'string' },
      'dry-run': { type: 'boolean' },
    },
    optionHelp: [
      ['--push', 'push the built images (build.push: auto never pushes from devloop build)'],
      ['--registry HOST:PORT', 'also tag each image HOST:PORT/IMAGE:TAG, pushed there with --push (e.g. localhost:5000)'],
      ['--file-output FILE', 'write {"builds":[{"imageName","tag"}]} to FILE (Skaffold\'s format)'],
      ['--dry-run', 'print what would build and why, without building'],
    ],
    load: () => import('./build.js'),
  },
  {
    name: 'deploy',
    summary: 'build what is needed, apply the manifests, wait until every workload is ready',
    usage: 'devloop deploy [--adopt] [--push]',
    description:
      'One shot: builds changed images, renders the manifests with the built references, records them in the inventory, applies them server-side and waits for the rollout. Objects deployed before and no longer rendered are pruned.',
    options: {
      adopt: { type: 'boolean' },
      push: { type: 'boolean' },
    },
    optionHelp: [
      ['--adopt', 'take over existing objects of the same name that devloop did not create'],
      ['--push', 'push images even to a local cluster'],
    ],
    load: () => import('./deploy.js'),
  },
  {
    name: 'render',
    summary: 'print the final manifests (with built image references); changes nothing',
    usage: 'devloop render',
    description: 'Renders the manifests as devloop dev and deploy would apply them, and prints them as YAML.',
    options: {},
    optionHelp: [],
    load: () => import('./render.js'),
  },
  {
    name: 'init',
    summary: 'write a commented devloop.config.yaml from skaffold.yaml, or from the Dockerfiles and manifests found',
    usage: 'devloop init [--force] [--yes] [--stdout] [-f skaffold.yaml]',
    description: [
      'Writes devloop.config.yaml. With a Skaffold config (skaffold.yaml in the directory, or -f FILE), the file is the config as devloop reads that Skaffold file, written beside it: same images, build inputs, manifests, port-forwards, and each Skaffold profile it can express as a devloop profile; comments say where each part came from, and which keys were left out because they do not change a dev loop.',
      '',
      'Without one, it scans the directory (skipping .git, node_modules and what .gitignore excludes) for Dockerfiles and Kubernetes manifests (with no plain manifests, it deploys the one kustomization no other one uses), and pairs each Dockerfile with the image the manifests deploy whose last path segment is the Dockerfile\'s directory name (or NAME of Dockerfile.NAME). A Dockerfile it cannot pair is asked about on the terminal; with --yes the questions are written as comments, with the lines to add. Without a terminal and without --yes it stops (exit 2) and lists the questions.',
      '',
      'It never overwrites an existing devloop config without --force (exit 2).',
    ].join('\n'),
    options: {
      force: { type: 'boolean' },
      yes: { type: 'boolean', short: 'y' },
      stdout: { type: 'boolean' },
    },
    optionHelp: [
      ['--force', 'replace an existing devloop.config.yaml'],
      ['-y, --yes', 'ask nothing: what cannot be paired is written as comments'],
      ['--stdout', 'print the config instead of writing the file'],
      ['-f FILE', 'the Skaffold config to read (default: skaffold.yaml in the directory, if there is one)'],
    ],
    load: () => import('./init.js'),
  },
  {
    name: 'down',
    summary: 'delete everything devloop ever applied for this project',
    usage: 'devloop down [--dry-run]',
    description:
      'Deletes every object in the inventory (the local journal, the in-cluster record and a label scan for this project), namespaces last, and waits until they are gone. A namespace that holds objects devloop did not apply is kept (and named, with how to delete it by hand); it stays recorded, so a later down deletes it once they are gone. Works after a crash and when the config changed or no longer parses.',
    options: {
      'dry-run': { type: 'boolean' },
    },
    optionHelp: [['--dry-run', 'list what would be deleted']],
    load: () => import('./down.js'),
  },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
