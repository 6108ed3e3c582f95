/**
 * The one definition of devloop's config file. The TypeScript types (`RawConfig`), the validator
 * (`ConfigSchema.safeParse`) and `schemas/devloop.schema.json` (`configJsonSchema()`) all come from
 * here; `schema.test.ts` fails when the checked-in JSON Schema drifts from this file.
 */
import { z } from 'zod';
import { DEFAULT_REPO_PATTERN } from './default-repo.js';

const relativePath = (what: string) => z.string().min(1, `${what} must not be empty`);

export const SyncRuleSchema = z
  .strictObject({
    src: z.string().min(1).describe('micromatch glob of files to copy, relative to the artifact context, e.g. "src/**/*.js".'),
    dest: z
      .string()
      .min(1)
      .describe('Destination in the container: absolute, or relative to the image WORKDIR. Must not escape with "..".'),
    strip: z.string().optional().describe('Prefix removed from the matched path before it is joined to dest, e.g. "src/".'),
  })
  .describe('A file matching src is copied into every running container of the artifact, at dest.');

/** A hook's command: argv, run without a shell (write ["sh", "-c", "..."] for one). */
const HookCommandSchema = z
  .array(z.string().min(1, 'a command argument must not be empty'))
  .min(1, 'command must name a program, e.g. ["npm", "install"]')
  .describe('The program and its arguments, run without a shell (use ["sh", "-c", "..."] for shell syntax).');

const hookTimeoutSeconds = z
  .number()
  .int()
  .min(1)
  .max(3600)
  .default(120)
  .describe('How long the hook may run before it is stopped and counted as failed.');

export const HostHookSchema = z
  .strictObject({
    command: HookCommandSchema,
    dir: z
      .string()
      .optional()
      .describe('Working directory: relative to the artifact context (sync and build hooks) or to the config file (deploy hooks); default that directory.'),
  })
  .describe(
    'A command on the developer\'s machine, with every variable under both DEVLOOP_ and Skaffold\'s SKAFFOLD_ names. Sync hooks: IMAGE, BUILD_CONTEXT, FILES_ADDED_OR_MODIFIED and FILES_DELETED (absolute local paths joined with ";"), NAMESPACES. Build hooks: IMAGE, IMAGE_REPO, IMAGE_TAG, PUSH_IMAGE, BUILD_CONTEXT. Deploy hooks: KUBE_CONTEXT, NAMESPACES.',
  );

export const SyncContainerHookSchema = z
  .strictObject({
    command: HookCommandSchema,
    where: z
      .enum(['each', 'one'])
      .default('each')
      .describe('each: in every container that received the batch; one: in one of them only (e.g. a shared volume).'),
  })
  .describe('A command run in the artifact\'s running containers; its output goes to that pod\'s log stream, marked as hook output.');

export const SyncHookSchema = z
  .strictObject({
    host: HostHookSchema.optional(),
    container: SyncContainerHookSchema.optional(),
    trigger: z
      .array(z.string().min(1))
      .optional()
      .describe('Globs relative to the artifact context: the hook runs only when a synced file matches one. Absent: on every sync.'),
    timeoutSeconds: hookTimeoutSeconds,
    onFailure: z
      .enum(['warn', 'rebuild'])
      .default('warn')
      .describe('warn: show the failure and its output; rebuild: also rebuild and redeploy the image.'),
  })
  .refine((h) => (h.host === undefined) !== (h.container === undefined), { message: 'a hook is either host: {...} or container: {...}, exactly one of them' })
  .describe('A command run before or after a sync batch of this artifact.');

export const BuildHookSchema = z
  .strictObject({
    host: HostHookSchema,
    timeoutSeconds: hookTimeoutSeconds,
  })
  .describe('A command on the developer\'s machine before or after this image is built (not when it is cached); a failure fails the build.');

export const DeployContainerHookSchema = z
  .strictObject({
    command: HookCommandSchema,
    podName: z.string().min(1).optional().describe('Glob of pod names, e.g. "posts-*"; default: every pod devloop deployed.'),
    containerName: z.string().min(1).optional().describe('Glob of container names; default: every container of the selected pods.'),
  })
  .describe('A command run in the running containers of the project\'s pods that match podName and containerName.');

export const DeployHookSchema = z
  .strictObject({
    host: HostHookSchema.optional(),
    container: DeployContainerHookSchema.optional(),
    timeoutSeconds: hookTimeoutSeconds,
  })
  .refine((h) => (h.host === undefined) !== (h.container === undefined), { message: 'a hook is either host: {...} or container: {...}, exactly one of them' })
  .describe('A command run before the manifests are applied, or after every workload is ready; a failure fails the deploy.');

const hookLists = <T extends z.ZodType>(item: T, what: string) =>
  z
    .strictObject({
      before: z.array(item).default([]).describe(`Run in order before ${what}.`),
      after: z.array(item).default([]).describe(`Run in order after ${what}.`),
    })
    .describe(`Commands run before and after ${what}.`);

export const SyncRestartSchema = z
  .strictObject({
    trigger: z
      .array(z.string().min(1))
      .optional()
      .describe('Globs relative to the artifact context: restart only when a synced file matches one. Absent: after every sync.'),
    timeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(600)
      .default(10)
      .describe('How long the old process may take to exit after SIGTERM before it gets SIGKILL.'),
  })
  .describe(
    'Restart the container\'s main process after a sync, with the synced files in place (for a compiled binary or a runtime that does not watch files). devloop runs the container\'s command (from the manifest, else the image\'s ENTRYPOINT and CMD) under a small sh supervisor: see src/sync/README.md.',
  );

export const RequirementSchema = z
  .strictObject({
    image: z.string().min(1).describe('Image name of another artifact that this one builds on; it is built first.'),
    alias: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'alias must be a build-arg name (letters, digits, underscore)')
      .describe('Build arg that receives the built reference of that image, e.g. BASE for "FROM ${BASE}".'),
  })
  .describe('An artifact this one depends on.');

export const BuilderSchema = z
  .enum(['auto', 'buildkit', 'classic'])
  .describe('Which Docker builder builds the image: BuildKit, the classic builder, or auto (BuildKit when the engine offers it, else classic with a note).');

export const ArtifactSchema = z
  .strictObject({
    image: z
      .string()
      .min(1)
      .regex(
        /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+|\/)[a-z0-9]+)*$/,
        'image must be an image name without a tag, e.g. blog/posts or localhost:5000/blog/posts',
      )
      .describe('Image name, without tag. Manifests refer to it by this name; devloop substitutes the built reference.'),
    context: relativePath('context').default('.').describe('Build context directory, relative to the config file.'),
    dockerfile: relativePath('dockerfile').default('Dockerfile').describe('Dockerfile path, relative to the context.'),
    target: z.string().optional().describe('Multi-stage build target.'),
    buildArgs: z.record(z.string(), z.string()).default({}).describe('Build args passed to the Dockerfile.'),
    requires: z.array(RequirementSchema).default([]).describe('Images this one builds on; built first.'),
    builder: BuilderSchema.optional().describe('The builder of this image; default: build.builder.'),
    sync: z
      .strictObject({
        manual: z.array(SyncRuleSchema).default([]).describe('Sync rules, tried in order; the first match wins (see everyMatch).'),
        everyMatch: z
          .boolean()
          .default(false)
          .describe('Copy a file once for every rule it matches, as Skaffold does, instead of for the first matching rule only.'),
        hooks: hookLists(SyncHookSchema, 'each sync batch of this artifact').optional(),
        restart: SyncRestartSchema.optional(),
      })
      .optional()
      .describe('Files copied into running containers instead of rebuilding.'),
    hooks: hookLists(BuildHookSchema, 'this image is built').optional(),
  })
  .describe('One image that devloop builds.');

export const BuildSchema = z
  .strictObject({
    tagPolicy: z
      .enum(['inputDigest', 'gitCommit', 'dateTime'])
      .default('inputDigest')
      .describe('How images are tagged: a hash of the inputs (default; unchanged inputs are never rebuilt), the git commit, or the time.'),
    concurrency: z.number().int().min(1).max(64).default(2).describe('How many images build at once.'),
    builder: BuilderSchema.default('auto'),
    push: z
      .union([z.literal('auto'), z.boolean()])
      .default('auto')
      .describe('Push built images: auto pushes only when the cluster is not local (or has a local registry).'),
    artifacts: z.array(ArtifactSchema).default([]).describe('The images to build.'),
    defaultRepo: z
      .string()
      .regex(DEFAULT_REPO_PATTERN, 'defaultRepo must be HOST[:PORT][/PATH], e.g. registry.example.com/team')
      .optional()
      .describe(
        "Registry (and path) every image is built for and pushed to, its name rewritten as Skaffold's --default-repo does (e.g. blog/posts -> registry.example.com/team/blog_posts). Overridden by --default-repo, DEVLOOP_DEFAULT_REPO and SKAFFOLD_DEFAULT_REPO; takes precedence over the registry a cluster announces (KEP-1755).",
      ),
  })
  .describe('Image builds.');

export const HelmReleaseSchema = z
  .strictObject({
    name: z.string().min(1).describe('Release name.'),
    chart: z.string().min(1).describe('Chart directory, relative to the config file.'),
    namespace: z.string().optional().describe('Namespace of the release; defaults to deploy.namespace.'),
    valuesFiles: z.array(z.string()).default([]).describe('Values files, relative to the config file.'),
    setValues: z.record(z.string(), z.string()).default({}).describe('Values set on the command line (--set key=value).'),
  })
  .describe('A Helm chart rendered with `helm template`.');

export const DeploySchema = z
  .strictObject({
    kubeContext: z.string().optional().describe('Kubernetes context to use; default: the current context.'),
    namespace: z.string().optional().describe('Default namespace for objects that name none.'),
    statusCheckDeadlineSeconds: z
      .number()
      .int()
      .min(1)
      .default(120)
      .describe('How long each workload may take to become ready.'),
    kubectl: z
      .strictObject({
        manifests: z.array(z.string()).default([]).describe('Globs of manifest files, relative to the config file.'),
      })
      .prefault({})
      .describe('Plain Kubernetes manifests.'),
    kustomize: z
      .strictObject({
        paths: z.array(z.string()).default([]).describe('Kustomization directories, relative to the config file.'),
      })
      .prefault({})
      .describe('Kustomizations rendered with `kubectl kustomize`.'),
    helm: z
      .strictObject({
        releases: z.array(HelmReleaseSchema).default([]),
      })
      .prefault({})
      .describe('Helm charts rendered with `helm template`.'),
    hooks: hookLists(DeployHookSchema, 'the manifests are applied (after: once every workload is ready)').optional(),
  })
  .describe('What to deploy and where.');

export const PortForwardSchema = z
  .strictObject({
    resourceType: z
      .enum(['deployment', 'statefulset', 'daemonset', 'service', 'pod'])
      .default('deployment')
      .describe('Kind of the resource to forward to.'),
    resourceName: z.string().min(1).describe('Name of the resource.'),
    namespace: z.string().optional().describe('Namespace; defaults to deploy.namespace.'),
    port: z
      .union([
        z.number().int().min(1).max(65535),
        z.string().regex(/^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/, 'a port name is 1-15 lowercase letters, digits and "-"'),
      ])
      .describe('Port in the pod (or the service port): a number, or a name from the containers\' ports (the Service\'s ports for a service).'),
    localPort: z.number().int().min(0).max(65535).optional().describe('Local port; defaults to port (the number a port name resolves to). 0 picks a free one.'),
    address: z
      .string()
      .default('127.0.0.1')
      .describe('Local address to listen on. Default 127.0.0.1: the cluster is not exposed to the network.'),
  })
  .describe('A port forwarded from this machine to a pod while devloop dev runs.');

export const WatchSchema = z
  .strictObject({
    ignore: z
      .array(z.string())
      .default([])
      .describe('Globs (relative to the config file) never watched, in addition to .git and each context\'s .dockerignore.'),
    debounceMs: z
      .number()
      .int()
      .min(0)
      .max(5000)
      .default(50)
      .describe(
        'Quiet time that batches a burst: a change after a quiet period is acted on at once (leading edge); changes that follow within this window are batched after it, acted on once no new change came for this long.',
      ),
    trigger: z
      .enum(['notify', 'polling', 'manual'])
      .default('notify')
      .describe(
        'How changes reach the loop: notify (file-system events), polling (stat the tree every pollIntervalMs, for WSL2, network mounts and volumes where events do not arrive), or manual (changes accumulate and are listed; applied on request: a key in the dashboard, a line on stdin without a terminal). --trigger overrides it.',
      ),
    pollIntervalMs: z
      .number()
      .int()
      .min(50)
      .max(60_000)
      .default(500)
      .describe('With trigger polling: how often each watched file is checked, in ms. --watch-poll-interval overrides it.'),
  })
  .describe('File watching in devloop dev.');

const overridable = {
  build: BuildSchema.partial().optional(),
  deploy: DeploySchema.partial().optional(),
  portForward: z.array(PortForwardSchema).optional(),
  watch: WatchSchema.partial().optional(),
};

export const ProfileActivationSchema = z
  .strictObject({
    env: z.string().optional().describe('NAME=REGEX: holds when the variable matches (NAME= holds when it is unset or empty; !REGEX negates).'),
    kubeContext: z.string().optional().describe('REGEX matched against the kube context (!REGEX negates).'),
    command: z.string().optional().describe('REGEX matched against the devloop command: dev, build, deploy, render or down.'),
  })
  .describe('Conditions that activate a profile without -p: every condition given must hold.');

export const ProfileSchema = z
  .strictObject({
    name: z.string().min(1).describe('Profile name, activated with -p NAME (and deactivated with -p -NAME).'),
    activation: z
      .array(ProfileActivationSchema)
      .optional()
      .describe('The profile activates itself when one of these holds (all of them with requiresAllActivations).'),
    requiresAllActivations: z.boolean().optional().describe('Activate only when every activation entry holds.'),
    ...overridable,
  })
  .describe('Named overrides: objects are merged into the base config, lists replace it.');

export const ConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    apiVersion: z.literal('devloop/v1').describe('Config format version. Always devloop/v1.'),
    kind: z.literal('Config').describe('Always Config.'),
    metadata: z
      .strictObject({
        name: z
          .string()
          .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'name must be a DNS label: lowercase letters, digits and "-"')
          .describe('Project name. Scopes labels and the inventory of applied objects.'),
      })
      .describe('Project metadata.'),
    // prefault: an absent section is parsed as {}, so its defaults come from its own fields only.
    build: BuildSchema.prefault({}),
    deploy: DeploySchema.prefault({}),
    portForward: z.array(PortForwardSchema).default([]),
    watch: WatchSchema.prefault({}),
    profiles: z.array(ProfileSchema).default([]),
  })
  .describe('devloop configuration (devloop.config.yaml).');

/** The deploy section's defaults, as the schema fills them in (for callers without a parsed config). */
export const DEPLOY_DEFAULTS: Readonly<z.output<typeof DeploySchema>> = DeploySchema.parse({});

export type RawConfig = z.output<typeof ConfigSchema>;
export type ArtifactConfig = z.output<typeof ArtifactSchema>;
export type BuilderSetting = z.output<typeof BuilderSchema>;
export type SyncRule = z.output<typeof SyncRuleSchema>;
export type SyncHook = z.output<typeof SyncHookSchema>;
export type HostHook = z.output<typeof HostHookSchema>;
export type BuildHook = z.output<typeof BuildHookSchema>;
export type DeployHook = z.output<typeof DeployHookSchema>;
export type SyncRestart = z.output<typeof SyncRestartSchema>;
export type DeployConfig = z.output<typeof DeploySchema>;
export type PortForwardConfig = z.output<typeof PortForwardSchema>;
export type ProfileConfig = z.output<typeof ProfileSchema>;

/** The JSON Schema written to schemas/devloop.schema.json. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: 'https://devloop.dev/schemas/devloop.schema.json',
    title: 'devloop config',
    ...schema,
  };
}
