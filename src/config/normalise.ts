/** The validated config document turned into the `Config` every phase works from: absolute paths. */
import path from 'node:path';
import type { Config } from './types.js';
import type { RawConfig } from './schema.js';
import { stateDirOf } from '../shared/paths.js';

export function normalise(raw: RawConfig, file: string, profiles: string[], source?: Config['source']): Config {
  const rootDir = path.dirname(file);
  return {
    file,
    rootDir,
    name: raw.metadata.name,
    profiles,
    build: {
      tagPolicy: raw.build.tagPolicy,
      concurrency: raw.build.concurrency,
      builder: raw.build.builder,
      push: raw.build.push,
      ...(raw.build.defaultRepo !== undefined ? { defaultRepo: { repo: raw.build.defaultRepo.replace(/\/+$/, ''), source: 'build.defaultRepo' as const } } : {}),
      artifacts: raw.build.artifacts.map((a) => {
        const contextDir = path.resolve(rootDir, a.context);
        return { ...a, contextDir, dockerfilePath: path.resolve(contextDir, a.dockerfile), stateDir: stateDirOf(rootDir) };
      }),
    },
    deploy: raw.deploy,
    portForward: raw.portForward,
    watch: raw.watch,
    ...(source ? { source } : {}),
  };
}
