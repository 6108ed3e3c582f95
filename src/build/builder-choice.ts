/**
 * Which builder builds an artifact: its own `builder`, else `build.builder` (default `auto`, from
 * the schema). `auto` is BuildKit when the engine offers it, and the classic builder otherwise
 * (with a note) or when the environment says DOCKER_BUILDKIT=0, as the Docker CLI reads it.
 * Pure: the engine's answer and the environment are arguments.
 */
import type { Artifact, Config } from '../config/load.js';
import type { EngineInfo } from '../docker/client.js';
import { EnvironmentError } from '../errors.js';

export interface BuilderChoice {
  builder: 'buildkit' | 'classic';
  /** Why, for -v and JSON: "auto: the engine (API 1.41, linux) offers BuildKit". */
  reason: string;
  /** Set when auto had to fall back to the classic builder: the one-line note to show. */
  note?: string;
}

export function chooseBuilder(config: Pick<Config, 'build'>, artifact: Pick<Artifact, 'image' | 'builder'>, engine: EngineInfo, env: NodeJS.ProcessEnv): BuilderChoice {
  const setting = artifact.builder ?? config.build.builder;
  const where = artifact.builder ? `build.artifacts[${artifact.image}].builder` : 'build.builder';
  const described = `the engine (API ${engine.apiVersion ?? 'unknown'}, ${engine.osType ?? 'unknown OS'})`;
  if (setting === 'classic') return { builder: 'classic', reason: `${where}: classic` };
  if (setting === 'buildkit') {
    if (!engine.buildkit) {
      throw new EnvironmentError(`${artifact.image} asks for BuildKit (${where}: buildkit), but ${described} does not offer it`, {
        hint: 'BuildKit needs a Linux engine with API 1.39 or later (Docker 18.09+): upgrade the engine, or set the builder to auto or classic.',
      });
    }
    return { builder: 'buildkit', reason: `${where}: buildkit` };
  }
  if (env.DOCKER_BUILDKIT === '0') return { builder: 'classic', reason: `${where}: auto, and DOCKER_BUILDKIT=0 in the environment` };
  if (engine.buildkit) return { builder: 'buildkit', reason: `${where}: auto, and ${described} offers BuildKit` };
  const reason = `${where}: auto, and ${described} does not offer BuildKit (it needs API 1.39+ on Linux)`;
  return { builder: 'classic', reason, note: `building with the classic builder: ${described} does not offer BuildKit` };
}
