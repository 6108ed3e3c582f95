/**
 * Which default repo a run uses (Skaffold's `--default-repo`), and where it came from. Precedence:
 * the `--default-repo` flag, then `DEVLOOP_DEFAULT_REPO`, then `SKAFFOLD_DEFAULT_REPO`, then the
 * config's `build.defaultRepo`. A level set to the empty string stops the search with no default
 * repo (as Skaffold's `--default-repo=""` ignores its global config); the cluster's KEP-1755
 * announcement, which comes after all of them, still applies then. Pure.
 */
import { UsageError } from '../errors.js';

export type DefaultRepoSource = '--default-repo' | 'DEVLOOP_DEFAULT_REPO' | 'SKAFFOLD_DEFAULT_REPO' | 'build.defaultRepo';

export interface DefaultRepo {
  /** `HOST[:PORT][/PATH]` without a trailing `/`; empty when the source turned the default repo off. */
  repo: string;
  source: DefaultRepoSource;
}

/** `HOST[:PORT][/PATH]` (a trailing `/` is dropped), as the schema's build.defaultRepo accepts it. */
export const DEFAULT_REPO_PATTERN = /^[A-Za-z0-9._-]+(:\d+)?(\/[a-z0-9._-]+)*\/?$/;

export function resolveDefaultRepo(flag: string | undefined, env: Readonly<Record<string, string | undefined>>, fromConfig: string | undefined): DefaultRepo | undefined {
  const levels: Array<[DefaultRepoSource, string | undefined]> = [
    ['--default-repo', flag],
    ['DEVLOOP_DEFAULT_REPO', env.DEVLOOP_DEFAULT_REPO],
    ['SKAFFOLD_DEFAULT_REPO', env.SKAFFOLD_DEFAULT_REPO],
    ['build.defaultRepo', fromConfig],
  ];
  for (const [source, value] of levels) {
    if (value === undefined) continue;
    const repo = value.trim().replace(/\/+$/, '');
    if (repo !== '' && !DEFAULT_REPO_PATTERN.test(repo)) {
      throw new UsageError(`${source === '--default-repo' ? '--default-repo' : source} must be HOST[:PORT][/PATH], not "${value}"`, {
        hint: 'For example --default-repo registry.example.com/team or --default-repo 127.0.0.1:5443.',
      });
    }
    return { repo, source };
  }
  return undefined;
}

/**
 * `config` with the run's default repo: the flag and the environment of `options.defaultRepo` over
 * the config's own `build.defaultRepo`. Without `options.defaultRepo`, `config` as it is.
 */
export function withDefaultRepo<C extends { build: { defaultRepo?: DefaultRepo } }>(
  config: C,
  options: { defaultRepo?: { flag?: string; env: Readonly<Record<string, string | undefined>> } },
): C {
  if (!options.defaultRepo) return config;
  const defaultRepo = resolveDefaultRepo(options.defaultRepo.flag, options.defaultRepo.env, config.build.defaultRepo?.repo);
  const { defaultRepo: _fromConfig, ...build } = config.build;
  return { ...config, build: defaultRepo ? { ...build, defaultRepo } : build };
}
