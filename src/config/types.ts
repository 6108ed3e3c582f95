/** The normalised config every phase works from, and the options of loading it. */
import type { DefaultRepo } from './default-repo.js';
import type { ArtifactConfig, DeployConfig, PortForwardConfig, RawConfig } from './schema.js';

/** An artifact with its paths resolved. */
export interface Artifact extends ArtifactConfig {
  /** Absolute build context directory. */
  contextDir: string;
  /** Absolute Dockerfile path. */
  dockerfilePath: string;
  /** devloop's state directory (src/shared/paths.ts `stateDirOf`): left out of the context when inside it. */
  stateDir: string;
}

/** The normalised config every phase works from. */
export interface Config {
  /** Absolute path of the config file. */
  file: string;
  /** Directory of the config file: every relative path in the config is relative to it. */
  rootDir: string;
  /** metadata.name: scopes labels and the inventory. */
  name: string;
  /** The profiles applied, in order. */
  profiles: string[];
  /**
   * The profiles applied with why (`local (kubeContext "kind-x" matches "^kind-")`, `ci (-p)`), when
   * any activated itself or the config is a Skaffold one: said in one line at start.
   */
  activatedProfiles?: string[];
  build: {
    tagPolicy: RawConfig['build']['tagPolicy'];
    concurrency: number;
    /** The project's builder; an artifact's own `builder` overrides it. */
    builder: RawConfig['build']['builder'];
    push: 'auto' | boolean;
    artifacts: Artifact[];
    /**
     * The default repo of this run (src/config/default-repo.ts): from the flag, the environment
     * or build.defaultRepo, with its source. Absent when none is set.
     */
    defaultRepo?: DefaultRepo;
  };
  deploy: DeployConfig;
  portForward: PortForwardConfig[];
  watch: RawConfig['watch'];
  /** Set when the file was a Skaffold config read in its place (src/config/skaffold/). */
  source?: {
    format: 'skaffold';
    /** The file's apiVersion, e.g. skaffold/v4beta14. */
    apiVersion: string;
    /** Keys present in the file that do not matter to a dev loop, as paths (`test`, `deploy.logs`). */
    ignored: string[];
    /** Every Skaffold file read (the file itself and the configs it requires). */
    files?: string[];
  };
}

export interface LoadOptions {
  /** Directory to start the search from (the -C flag, else the process cwd). */
  cwd: string;
  /** Explicit config file (the -f flag), relative to cwd. */
  file?: string;
  /** Profiles to activate, in order (-p). */
  profiles?: string[];
  /** Skip checks that touch the filesystem beyond the config file (contexts, Dockerfiles). */
  skipFileChecks?: boolean;
  /** The --default-repo flag and the environment (DEVLOOP_DEFAULT_REPO, SKAFFOLD_DEFAULT_REPO), over build.defaultRepo. */
  defaultRepo?: { flag?: string; env: Readonly<Record<string, string | undefined>> };
  /** The devloop command running (`dev`, `deploy`...): activates Skaffold profiles by `command`. */
  command?: string;
  /** The kube context for `activation.kubeContext`; default: currentKubeContext(). */
  kubeContext?: string;
  /**
   * Reads the kubeconfig's current-context, called at most once and only when an activation names a
   * kube context and `kubeContext` is not given. The CLI passes kube/kubeconfig.ts's currentContext
   * (config reads no kubeconfig itself). Absent: the context is unknown and matches as ''.
   */
  currentKubeContext?: () => string | undefined;
  /** Environment for Skaffold's `activation.env`; default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}
