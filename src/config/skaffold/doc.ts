/**
 * docs/skaffold.md, generated from the key table (keys.ts): every key devloop reads in a Skaffold
 * config, supported, ignored or refused. `npm run docs:skaffold` writes the file; doc.test.ts fails
 * when the committed file differs from `skaffoldDoc()`, when a key of the skaffold/v4beta14 schema
 * (testdata/v4beta14-keys.txt) is not covered by the table, and when a supported key has no
 * entry in `MAPS_TO`.
 *
 * keys.ts decides the classification and holds the why/what-instead of ignored and refused keys;
 * `MAPS_TO` holds, for supported keys, what each becomes in devloop's own config. Entries for keys
 * keys.ts does not (yet) mark supported are unused, so a key can move to supported in keys.ts
 * without editing this file when its entry is already here.
 */
import { DOCUMENTED_KEYS, type KeySpec } from './keys.js';

/** One row of the table. */
export interface KeyRow {
  /** `build.artifacts[].docker.target`. */
  path: string;
  status: 'supported' | 'ignored' | 'refused';
  /** What it maps to (supported), why it does not matter (ignored), or what Skaffold does and what to do instead (refused). */
  text: string;
  /** True for a key with keys below it in the table. */
  section: boolean;
  /** True when a whole subtree is covered by this row (an ignored, refused or free-form key with keys below it in Skaffold's schema). */
  coversBelow: boolean;
}

/** For each supported key: what it becomes in devloop.config.yaml, with Skaffold's meaning. */
export const MAPS_TO: Readonly<Record<string, string>> = {
  apiVersion: '`skaffold/v2beta1` to `skaffold/v4beta14` are read; older versions are refused with a pointer to `skaffold fix`',
  kind: 'must be `Config`',
  metadata: 'project metadata',
  'metadata.name': '`metadata.name` (default: the directory name as a DNS label)',
  requires: 'the required configs are read and merged (artifacts and manifests), each with paths relative to its own file',
  'requires[].path': 'a local Skaffold file or directory (its skaffold.yaml), relative to this file',
  'requires[].configs': 'which named configs of that file are read (default: all)',
  'requires[].activeProfiles': 'profiles activated in the required config',
  'requires[].activeProfiles[].name': 'the profile of the required config',
  'requires[].activeProfiles[].activatedBy': 'activate it only when one of these profiles of this config is active',
  build: '`build`',
  'build.artifacts': '`build.artifacts`',
  'build.artifacts[].image': '`build.artifacts[].image`; manifests referring to it get the built reference',
  'build.artifacts[].context': '`build.artifacts[].context` (default `.`), relative to the Skaffold file',
  'build.artifacts[].docker': 'the Docker build of the artifact (the only builder devloop has)',
  'build.artifacts[].docker.dockerfile': '`build.artifacts[].dockerfile` (default `Dockerfile`), relative to the context',
  'build.artifacts[].docker.target': '`build.artifacts[].target`',
  'build.artifacts[].docker.buildArgs': '`build.artifacts[].buildArgs` (literal values; `{{...}}` templates are refused)',
  'build.artifacts[].requires': '`build.artifacts[].requires`: built first',
  'build.artifacts[].requires[].image': '`requires[].image`',
  'build.artifacts[].requires[].alias': "`requires[].alias`: the build arg that receives the required image's built reference",
  'build.artifacts[].sync': '`build.artifacts[].sync`',
  'build.artifacts[].sync.manual': '`sync.manual`: changed files matching a rule are copied into the running containers',
  'build.artifacts[].sync.manual[].src': '`sync.manual[].src`, a glob relative to the context',
  'build.artifacts[].sync.manual[].dest': "`sync.manual[].dest`: absolute, or relative to the image's WORKDIR (`.` is the WORKDIR)",
  'build.artifacts[].sync.manual[].strip': '`sync.manual[].strip`: prefix removed from the path before it is joined to dest',
  'build.tagPolicy': '`build.tagPolicy`',
  'build.tagPolicy.gitCommit': "`tagPolicy: gitCommit`: the short commit sha, `-dirty` when the context has changes (variant, prefix and ignoreChanges are not read: they only change the tag's text)",
  'build.tagPolicy.inputDigest': '`tagPolicy: inputDigest`',
  'build.tagPolicy.sha256': '`tagPolicy: inputDigest` (Skaffold tags `latest` and deploys by digest; inputDigest likewise names each distinct image content)',
  'build.tagPolicy.dateTime': "`tagPolicy: dateTime` (format and timezone are not read: they only change the tag's text)",
  'build.local': 'settings of the local Docker build',
  'build.local.push': '`build.push` (unset: `auto`, push only when the cluster is not local or announces a local registry)',
  'build.local.concurrency': '`build.concurrency` (0, no limit, becomes 64)',
  'build.local.useBuildkit': 'builds with BuildKit, as Skaffold does',
  manifests: 'what to deploy (v3 and later)',
  'manifests.rawYaml': '`deploy.kubectl.manifests` (globs relative to the Skaffold file; none at all means `k8s/*.yaml`)',
  'manifests.kustomize': '`deploy.kustomize`',
  'manifests.kustomize.paths': '`deploy.kustomize.paths`, rendered with `kubectl kustomize`',
  'manifests.helm': '`deploy.helm`',
  'manifests.helm.releases': '`deploy.helm.releases`, rendered with `helm template`',
  'manifests.helm.releases[].name': '`releases[].name`',
  'manifests.helm.releases[].chartPath': '`releases[].chart` (a local chart directory)',
  'manifests.helm.releases[].valuesFiles': '`releases[].valuesFiles`',
  'manifests.helm.releases[].namespace': '`releases[].namespace`',
  'manifests.helm.releases[].setValues': '`releases[].setValues`',
  deploy: '`deploy`',
  'deploy.kubeContext': '`deploy.kubeContext`',
  'deploy.statusCheckDeadlineSeconds': '`deploy.statusCheckDeadlineSeconds`',
  'deploy.kubectl': 'the kubectl deployer: devloop applies server-side, namespaces first',
  'deploy.kubectl.manifests': '`deploy.kubectl.manifests` (v2 schemas)',
  'deploy.kubectl.defaultNamespace': '`deploy.namespace`',
  'deploy.kustomize': '`deploy.kustomize` (v2 schemas)',
  'deploy.kustomize.paths': '`deploy.kustomize.paths` (v2 schemas)',
  'deploy.helm': '`deploy.helm` (v2 schemas)',
  'deploy.helm.releases': '`deploy.helm.releases` (v2 schemas)',
  'deploy.helm.releases[].name': '`releases[].name`',
  'deploy.helm.releases[].chartPath': '`releases[].chart` (a local chart directory)',
  'deploy.helm.releases[].valuesFiles': '`releases[].valuesFiles`',
  'deploy.helm.releases[].namespace': '`releases[].namespace`',
  'deploy.helm.releases[].setValues': '`releases[].setValues`',
  portForward: '`portForward`, while `devloop dev` runs',
  'portForward[].resourceType': '`portForward[].resourceType` (`deployment`, `statefulset`, `daemonset`, `service`, `pod`; any case)',
  'portForward[].resourceName': '`portForward[].resourceName`',
  'portForward[].namespace': '`portForward[].namespace` (default: the deploy namespace)',
  'portForward[].port': '`portForward[].port`: a port number, or a port name resolved from the pod\'s container ports or the Service\'s ports',
  'portForward[].localPort': '`portForward[].localPort`',
  'portForward[].address': '`portForward[].address` (default `127.0.0.1`)',
  profiles:
    'applied as Skaffold does: by `-p NAME` (`-p -NAME` deactivates) or by `activation`; one line says which profiles were activated and why',
  'profiles[].name': 'activated with `-p NAME` (and deactivated with `-p -NAME`)',
  'profiles[].activation': 'automatic activation',
  'profiles[].activation[].env': '`NAME=regex` on the environment',
  'profiles[].activation[].kubeContext': 'a regex on the Kubernetes context',
  'profiles[].activation[].command': 'the command (`dev`, `run` = `deploy`, `build`, `render`, `delete` = `down`)',
  'profiles[].requiresAllActivations': 'all activations must hold, not one',
  'profiles[].patches': 'JSON Patch operations on the config',
  'profiles[].patches[].op': '`add`, `replace`, `remove` (also `move`, `copy`, `test`)',
  'profiles[].patches[].path': 'the JSON Pointer patched',
  'profiles[].patches[].value': 'the value added or replaced',
  'profiles[].patches[].from': 'the JSON Pointer moved or copied from (`move`, `copy`)',
  'build.artifacts[].sync.hooks.before': '`sync.hooks.before[]`: a hook run before the batch is written',
  'build.artifacts[].sync.hooks.before[].host': '`sync.hooks.before[].host`: runs on this machine with DEVLOOP_/SKAFFOLD_FILES_ADDED_OR_MODIFIED, _FILES_DELETED and _IMAGE',
  'build.artifacts[].sync.hooks.before[].host.command': '`host.command`',
  'build.artifacts[].sync.hooks.before[].host.os': 'a hook whose `os` list leaves out this platform is dropped, as Skaffold skips it',
  'build.artifacts[].sync.hooks.before[].host.dir': '`host.dir`, relative to the context',
  'build.artifacts[].sync.hooks.before[].container': '`sync.hooks.before[].container`: runs in each container that received the batch',
  'build.artifacts[].sync.hooks.before[].container.command': '`container.command`',
  'build.artifacts[].hooks.before': '`build.artifacts[].hooks.before[].host`: run on this machine before each actual build of the image',
  'build.artifacts[].hooks.before[].command': '`host.command`',
  'build.artifacts[].hooks.before[].os': 'a hook whose `os` list leaves out this platform is dropped, as Skaffold skips it',
  'build.artifacts[].hooks.before[].dir': '`host.dir`, relative to the context',
  'deploy.kubectl.hooks.before': '`deploy.hooks.before[]`: run before the manifests are applied',
  'deploy.kubectl.hooks.before[].host': '`deploy.hooks[].host`: runs on this machine',
  'deploy.kubectl.hooks.before[].host.command': '`host.command`',
  'deploy.kubectl.hooks.before[].host.os': 'a hook whose `os` list leaves out this platform is dropped, as Skaffold skips it',
  'deploy.kubectl.hooks.before[].host.dir': '`host.dir`, relative to the config file',
  'deploy.kubectl.hooks.before[].container': '`deploy.hooks[].container`: runs in the matching containers of the deployed pods',
  'deploy.kubectl.hooks.before[].container.command': '`container.command`',
  'deploy.kubectl.hooks.before[].container.containerName': '`container.containerName` (a glob)',
  'deploy.kubectl.hooks.before[].container.podName': '`container.podName` (a glob)',
  'build.artifacts[].sync.hooks.after': '`sync.hooks.after[]`: a hook run after the batch is written',
  'build.artifacts[].sync.hooks.after[].host': '`sync.hooks.after[].host`: runs on this machine with DEVLOOP_/SKAFFOLD_FILES_ADDED_OR_MODIFIED, _FILES_DELETED and _IMAGE',
  'build.artifacts[].sync.hooks.after[].host.command': '`host.command`',
  'build.artifacts[].sync.hooks.after[].host.os': 'a hook whose `os` list leaves out this platform is dropped, as Skaffold skips it',
  'build.artifacts[].sync.hooks.after[].host.dir': '`host.dir`, relative to the context',
  'build.artifacts[].sync.hooks.after[].container': '`sync.hooks.after[].container`: runs in each container that received the batch',
  'build.artifacts[].sync.hooks.after[].container.command': '`container.command`',
  'build.artifacts[].hooks.after': '`build.artifacts[].hooks.after[].host`: run on this machine after each actual build of the image',
  'build.artifacts[].hooks.after[].command': '`host.command`',
  'build.artifacts[].hooks.after[].os': 'a hook whose `os` list leaves out this platform is dropped, as Skaffold skips it',
  'build.artifacts[].hooks.after[].dir': '`host.dir`, relative to the context',
  'deploy.kubectl.hooks.after': '`deploy.hooks.after[]`: run after the manifests are applied',
  'deploy.kubectl.hooks.after[].host': '`deploy.hooks[].host`: runs on this machine',
  'deploy.kubectl.hooks.after[].host.command': '`host.command`',
  'deploy.kubectl.hooks.after[].host.os': 'a hook whose `os` list leaves out this platform is dropped, as Skaffold skips it',
  'deploy.kubectl.hooks.after[].host.dir': '`host.dir`, relative to the config file',
  'deploy.kubectl.hooks.after[].container': '`deploy.hooks[].container`: runs in the matching containers of the deployed pods',
  'deploy.kubectl.hooks.after[].container.command': '`container.command`',
  'deploy.kubectl.hooks.after[].container.containerName': '`container.containerName` (a glob)',
  'deploy.kubectl.hooks.after[].container.podName': '`container.podName` (a glob)',
  'build.artifacts[].sync.hooks': '`sync.hooks`: commands around each sync batch of the artifact',
  'build.artifacts[].hooks': '`build.artifacts[].hooks`: commands on this machine around each actual build (not when cached)',
  'deploy.kubectl.hooks': '`deploy.hooks`: commands around each deploy',
  'manifests.kustomize.defaultNamespace': '`deploy.namespace` (the namespace of objects that name none)',
  'deploy.kustomize.defaultNamespace': '`deploy.namespace` (the namespace of objects that name none)',
  'manifests.helm.releases[].artifactOverrides': '`releases[].setValues`: each value set to the built reference of the image it names',
  'deploy.helm.releases[].artifactOverrides': '`releases[].setValues`: each value set to the built reference of the image it names',
};

/** The keys of a Skaffold profile that are not a copy of a top-level section. */
const PROFILE_OWN_KEYS = new Set(['name', 'activation', 'requiresAllActivations', 'patches']);

const STATUS_WORD: Record<KeyRow['status'], string> = { supported: 'supported', ignored: 'ignored', refused: 'refused' };

/** Every row of the table, in the order of keys.ts. */
export function keyRows(spec: KeySpec = DOCUMENTED_KEYS): KeyRow[] {
  const rows: KeyRow[] = [];
  const visit = (s: KeySpec, at: string): void => {
    if (s.t === 'list') return visit(s.item, at);
    if (s.t === 'map') {
      for (const [key, child] of Object.entries(s.keys)) {
        const childPath = at ? `${at}.${key}` : key;
        const shown = child.t === 'list' ? `${childPath}[]` : childPath;
        const inner = child.t === 'list' ? child.item : child;
        // A profile's sections (profiles[].build, ...) hold the top level's keys: one row each.
        const profileSection = at === 'profiles[]' && !PROFILE_OWN_KEYS.has(key) && inner.t !== 'ignored' && inner.t !== 'refused';
        rows.push(profileSection ? { path: shown, status: 'supported', text: `the same keys as the top-level \`${key}\``, section: false, coversBelow: true } : rowFor(shown, childPath, inner));
        if (inner.t === 'map' && !profileSection) visit(inner, shown);
      }
    }
  };
  visit(spec, '');
  return rows;
}

function rowFor(shown: string, keyPath: string, spec: KeySpec): KeyRow {
  switch (spec.t) {
    case 'ignored':
      return { path: shown, status: 'ignored', text: spec.why, section: false, coversBelow: true };
    case 'refused':
      return { path: shown, status: 'refused', text: `Skaffold ${spec.does}. Instead: ${spec.instead}.`, section: false, coversBelow: true };
    default:
      return {
        path: shown,
        status: 'supported',
        text: MAPS_TO[keyPath] ?? '',
        section: spec.t === 'map',
        coversBelow: spec.t !== 'map',
      };
  }
}

/** Supported rows without a `MAPS_TO` entry (doc.test.ts wants none). */
export function undocumentedKeys(rows: KeyRow[] = keyRows()): string[] {
  return rows.filter((r) => r.status === 'supported' && r.text === '').map((r) => r.path);
}

/** Whether `schemaPath` (`build.artifacts[].docker.secrets[].id`) is covered by a row of the table. */
export function isCovered(schemaPath: string, spec: KeySpec = DOCUMENTED_KEYS): boolean {
  let node = spec;
  for (const segment of schemaPath.split('.')) {
    if (node.t === 'list') node = node.item;
    if (node.t !== 'map') return true; // a value, free-form, ignored or refused key covers what is below it
    const child = node.keys[segment.replace(/\[\]$/, '')];
    if (!child) return false;
    node = child;
  }
  return true;
}

/** The Markdown of docs/skaffold.md. `schemaKeys`: the v4beta14 keys, to mark the keys only older schemas have. */
export function skaffoldDoc(schemaKeys: ReadonlySet<string>): string {
  const rows = keyRows();
  const escape = (s: string) => s.replace(/\|/g, '\\|');
  // Lists are compared without their `[]`: the table may hold a list key as one value.
  const bare = (p: string) => p.replace(/\[\]/g, '');
  const schema = [...schemaKeys].map(bare);
  const inSchema = new Set(schema);
  const table = rows.map((r) => {
    const note = inSchema.has(bare(r.path)) ? '' : ' (v2beta schemas only)';
    const below = r.coversBelow && schema.some((k) => k.startsWith(`${bare(r.path)}.`)) ? ' Covers every key below it.' : '';
    const text = r.section && !r.text ? 'see the keys below' : r.text;
    const sentence = below && !text.endsWith('.') ? `${text}.` : text;
    return `| \`${r.path}\`${note} | ${STATUS_WORD[r.status]} | ${escape(sentence)}${below} |`;
  });
  const counts = (['supported', 'ignored', 'refused'] as const).map((s) => `${rows.filter((r) => r.status === s).length} ${s}`).join(', ');
  return [
    '# Skaffold configs in devloop',
    '',
    '<!-- Generated from src/config/skaffold/keys.ts and src/config/skaffold/doc.ts by `npm run docs:skaffold`. Do not edit by hand. -->',
    '',
    'With no `devloop.config.yaml` in the directory or its parents, every devloop command reads',
    '`skaffold.yaml` (and `-f` takes any file whose `apiVersion` is `skaffold/...`), from',
    '`skaffold/v2beta1` up to `skaffold/v4beta14`; for older files it says which version the file is',
    'and that `skaffold fix` upgrades it. One line says which file was read. `devloop init` writes the',
    'same config as a commented `devloop.config.yaml`, which devloop then reads instead.',
    '',
    'The table lists every key of the `skaffold/v4beta14` schema, and the keys of older schemas that',
    `devloop still reads (${counts}):`,
    '',
    "- **supported**: read with Skaffold's meaning; the last column says what it becomes in devloop's own config.",
    '- **ignored**: it does not change what a dev loop builds, deploys or syncs. It is listed once, as',
    '  ignored, when a command starts, and never fails the run.',
    '- **refused**: ignoring it would change what happens. Every refused key of the file is reported at',
    '  once, as `file:line:column`, with what Skaffold does with it and what to do instead; the',
    '  command exits with 2.',
    '',
    'A row of an ignored or refused key covers every key below it. A key that is not in the table',
    'is reported as unknown, with a did-you-mean among its neighbours. Fields holding `{{...}}`',
    'templates are refused wherever they appear: devloop does not expand them. The sections inside',
    'a profile (`profiles[].build`, `profiles[].deploy`, ...) hold the same keys as at the top level.',
    '',
    '| Key | Status | In devloop |',
    '| --- | --- | --- |',
    ...table,
    '',
  ].join('\n');
}
