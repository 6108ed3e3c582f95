/**
 * The keys of a Skaffold config (skaffold/v2beta* .. skaffold/v4beta14) as devloop reads them:
 * mapped (`value`, `map`, `list`, `free`), ignored because they do not change a dev loop, or
 * refused because ignoring them would change what happens. A key missing from this table is
 * reported as unknown, with a did-you-mean among its siblings.
 */

export type KeySpec =
  /** A mapped value; its type is checked by devloop's schema after mapping. */
  | { t: 'value' }
  /** A mapping of user-chosen names (buildArgs, labels): any keys. */
  | { t: 'free' }
  | { t: 'map'; keys: Record<string, KeySpec> }
  | { t: 'list'; item: KeySpec }
  /** Read by Skaffold, irrelevant to a dev loop: listed once as ignored. */
  | { t: 'ignored'; why: string }
  /** Read by Skaffold in a way devloop does not follow: reported as a problem. */
  | { t: 'refused'; does: string; instead: string }
  /** Not read in this run (a section of a profile that is not active). */
  | { t: 'skipped' };

const value: KeySpec = { t: 'value' };
const free: KeySpec = { t: 'free' };
const map = (keys: Record<string, KeySpec>): KeySpec => ({ t: 'map', keys });
const list = (item: KeySpec): KeySpec => ({ t: 'list', item });
const ignored = (why: string): KeySpec => ({ t: 'ignored', why });
const refused = (does: string, instead: string): KeySpec => ({ t: 'refused', does, instead });

const WRITE_DEVLOOP = 'write the equivalent in devloop.config.yaml';
const otherBuilder = (name: string) =>
  refused(`builds the image with ${name}`, 'build it with a Dockerfile (docker.dockerfile): devloop has no other builder');

// Lifecycle hooks (mapped in read.ts, section "Hooks"). `os` picks the platforms a host hook runs on.
const hostHook = map({ command: value, os: value, dir: value });
const hookLists = (item: KeySpec): KeySpec => map({ before: list(item), after: list(item) });
const actionHook = refused('dispatches a custom action as a hook', 'use a host or container hook');
const syncHooks = hookLists(map({ host: hostHook, container: map({ command: value }) }));
const deployHooks = hookLists(map({ host: hostHook, container: map({ command: value, containerName: value, podName: value }), action: actionHook }));

const artifact = map({
  image: value,
  context: value,
  docker: map({
    dockerfile: value,
    target: value,
    buildArgs: free,
    cacheFrom: ignored('build cache hints only change build speed'),
    noCache: refused('builds without the layer cache', 'remove noCache; devloop uses the Docker cache'),
    network: refused('runs RUN steps on another Docker network', 'remove network'),
    addHost: refused('adds /etc/hosts entries during the build', 'remove addHost'),
    secrets: refused('mounts build secrets', 'remove secrets'),
    ssh: refused('forwards an SSH agent to the build', 'remove ssh'),
    cliFlags: refused('passes extra flags to docker build', 'remove cliFlags'),
    pullParent: ignored('devloop never pulls: no registry is assumed reachable'),
    squash: ignored('squashing layers does not change what runs'),
  }),
  requires: list(map({ image: value, alias: value, path: refused('requires an artifact from another config', 'list that artifact in this file') })),
  sync: map({
    manual: list(map({ src: value, dest: value, strip: value })),
    infer: refused('infers sync rules from the Dockerfile COPY/ADD lines', 'write the rules as sync.manual with src, dest and strip'),
    auto: refused('lets the builder decide which files to sync', 'write the rules as sync.manual with src, dest and strip'),
    hooks: syncHooks,
  }),
  hooks: hookLists(hostHook),
  platforms: refused('builds for other CPU platforms', 'remove platforms; devloop builds for the engine\'s platform'),
  runtimeType: ignored('only used by skaffold debug'),
  jib: otherBuilder('Jib'),
  kaniko: otherBuilder('Kaniko in the cluster'),
  bazel: otherBuilder('Bazel'),
  ko: otherBuilder('ko'),
  buildpacks: otherBuilder('Cloud Native Buildpacks'),
  custom: otherBuilder('a custom script'),
});

const kubectlDeploy = map({
  manifests: value,
  defaultNamespace: value,
  remoteManifests: refused('applies manifests fetched from the cluster', 'copy them into the repository and list them in manifests'),
  flags: refused('passes extra flags to kubectl', 'remove flags'),
  hooks: deployHooks,
});

const helmRelease = map({
  name: value,
  chartPath: value,
  valuesFiles: value,
  namespace: value,
  setValues: free,
  // v2 form: `image-key: artifact-image` sets each value to the artifact's image, which devloop then
  // rewrites to the built reference in the rendered output, as it does for every manifest.
  artifactOverrides: free,
  remoteChart: refused('installs a chart from a chart repository', 'vendor the chart into the repository with helm pull --untar, and use chartPath'),
  repo: refused('installs a chart from a chart repository', 'vendor the chart into the repository with helm pull --untar, and use chartPath'),
  version: refused('pins the version of a remote chart', 'vendor the chart into the repository and use chartPath'),
  packaged: refused('packages the chart before installing it', 'remove packaged; devloop renders the chart directory'),
  setValueTemplates: refused('sets values from templates of the built image', 'use setValues; devloop rewrites image references in the rendered output'),
  setFiles: refused('sets values from files (--set-file)', 'put the values in a valuesFiles file'),
  overrides: refused('writes overrides into a values file', 'put the values in a valuesFiles file'),
  imageStrategy: refused('sets image values in a chosen layout', 'use setValues; devloop rewrites image references in the rendered output'),
  createNamespace: ignored('devloop applies a Namespace only when a manifest holds one'),
  wait: ignored('devloop waits for every workload to become ready'),
  recreatePods: ignored('devloop rolls pods out when their image changes'),
  skipBuildDependencies: ignored('devloop renders the chart directory as it is'),
  skipTests: ignored('chart tests are not part of the dev loop'),
  useHelmSecrets: refused('decrypts values with helm-secrets', 'decrypt the values into a file first'),
  upgradeOnChange: ignored('devloop re-renders the chart on every change'),
  dependsOn: ignored('devloop applies every release together'),
  lang: ignored('only used by skaffold debug'),
});

const helmDeploy = map({
  releases: list(helmRelease),
  flags: refused('passes extra flags to helm', 'remove flags'),
  concurrency: ignored('devloop renders releases one after the other'),
  hooks: refused('runs commands before/after the deploy', 'run them outside devloop'),
});

const kustomize = map({
  paths: value,
  buildArgs: refused('passes extra flags to kustomize build', 'remove buildArgs'),
  flags: refused('passes extra flags to kubectl', 'remove flags'),
  hooks: refused('runs commands before/after the deploy', 'run them outside devloop'),
  defaultNamespace: value,
});

/** The pipeline sections, at the top of a config and inside each profile. */
const pipeline = {
  build: map({
    artifacts: list(artifact),
    tagPolicy: map({
      gitCommit: free,
      inputDigest: free,
      sha256: free,
      dateTime: free,
      envTemplate: refused('tags images from a template of environment variables', 'use gitCommit, inputDigest, sha256 or dateTime'),
      customTemplate: refused('tags images from a template', 'use gitCommit, inputDigest, sha256 or dateTime'),
    }),
    local: map({
      push: value,
      concurrency: value,
      useBuildkit: value,
      useDockerCLI: ignored('devloop always uses the docker CLI'),
      tryImportMissing: ignored('devloop never imports images from a registry'),
    }),
    insecureRegistries: ignored('registry TLS settings are the Docker engine\'s'),
    platforms: refused('builds for other CPU platforms', 'remove platforms'),
    googleCloudBuild: refused('builds on Google Cloud Build', 'build locally: remove googleCloudBuild'),
    cluster: refused('builds in the cluster with Kaniko', 'build locally: remove cluster'),
    hooks: refused('runs commands before/after every build', 'run them outside devloop'),
  }),
  manifests: map({
    rawYaml: value,
    kustomize,
    helm: helmDeploy,
    kpt: refused('renders with kpt', WRITE_DEVLOOP),
    remoteManifests: refused('applies manifests fetched from the cluster', 'copy them into the repository and list them in rawYaml'),
    hooks: refused('runs commands before/after rendering', 'run them outside devloop'),
    transform: refused('transforms manifests with kpt functions', 'apply the transformation to the files'),
    validate: refused('validates manifests with kpt functions', 'remove validate'),
    output: ignored('only where skaffold render writes hydrated manifests; devloop render prints them'),
  }),
  deploy: map({
    kubeContext: value,
    statusCheckDeadlineSeconds: value,
    statusCheck: ignored('devloop always waits for workloads to become ready'),
    tolerateFailuresUntilDeadline: ignored('devloop waits until the deadline either way'),
    logs: ignored('devloop shows the logs of every container'),
    kubectl: kubectlDeploy,
    kustomize,
    helm: helmDeploy,
    kpt: refused('deploys with kpt', WRITE_DEVLOOP),
    docker: refused('runs containers in Docker, not Kubernetes', 'deploy to Kubernetes with manifests'),
    cloudrun: refused('deploys to Cloud Run', 'deploy to Kubernetes with manifests'),
  }),
  portForward: list(map({ resourceType: value, resourceName: value, namespace: value, port: value, localPort: value, address: value })),
  test: ignored('tests are not part of the dev loop'),
  verify: ignored('verification tests are not part of the dev loop'),
  customActions: refused('defines custom actions for skaffold exec', 'run them outside devloop'),
  resourceSelector: refused('replaces images in custom resource kinds', 'use built-in workload kinds'),
};

const remoteConfig = (where: string) => refused(`reads a required config from ${where}`, 'check the config out next to this one and require it by path');

export const SKAFFOLD_KEYS: KeySpec = map({
  apiVersion: value,
  kind: value,
  metadata: map({ name: value, labels: ignored('labels on the config itself'), annotations: ignored('annotations on the config itself') }),
  requires: list(
    map({
      path: value,
      configs: value,
      activeProfiles: list(map({ name: value, activatedBy: value })),
      git: remoteConfig('a git repository'),
      googleCloudStorage: remoteConfig('Google Cloud Storage'),
      googleCloudBuildRepoV2: remoteConfig('a Cloud Build repository'),
    }),
  ),
  ...pipeline,
  profiles: list(map({})), // walked one by one: ACTIVE_PROFILE_KEYS or INACTIVE_PROFILE_KEYS
});

const profileHeader = {
  name: value,
  activation: list(map({ env: value, kubeContext: value, command: value })),
  requiresAllActivations: value,
  patches: list(map({ op: value, path: value, from: value, value: free })),
};

/** A profile that applies: its sections are read like the config's. */
export const ACTIVE_PROFILE_KEYS: KeySpec = map({ ...profileHeader, ...pipeline });

/** A profile that does not apply: only its name, activation and patches are checked. */
export const INACTIVE_PROFILE_KEYS: KeySpec = map({
  ...profileHeader,
  ...Object.fromEntries(Object.keys(pipeline).map((k) => [k, { t: 'skipped' } as KeySpec])),
});

/**
 * The table as docs/skaffold.md shows it: SKAFFOLD_KEYS with a profile's keys spelt out. A profile's
 * sections hold the same keys as the config's own (documented once, at the top level); an ignored or
 * refused section keeps that status.
 */
function sectionStatus(spec: KeySpec): KeySpec {
  const inner = spec.t === 'list' ? spec.item : spec;
  return inner.t === 'ignored' || inner.t === 'refused' ? inner : value;
}

export const DOCUMENTED_KEYS: KeySpec = {
  t: 'map',
  keys: {
    ...(SKAFFOLD_KEYS as { t: 'map'; keys: Record<string, KeySpec> }).keys,
    profiles: list(
      map({
        ...profileHeader,
        ...Object.fromEntries(Object.entries(pipeline).map(([k, spec]) => [k, sectionStatus(spec)])),
      }),
    ),
  },
};
