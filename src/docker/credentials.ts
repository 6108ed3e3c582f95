/**
 * Registry credentials from the user's Docker config, read as the Docker CLI reads them:
 *
 * - The file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. A missing file means no
 *   credentials; an unreadable or malformed one is an EnvironmentError naming it.
 * - Per registry host: `credHelpers[host]` names a helper, else `credsStore` is the helper for
 *   every host, else `auths` (keys matched exactly, then by their hostname:
 *   `https://host/v1/` counts as `host`). Docker Hub (`docker.io`, `index.docker.io`,
 *   `registry-1.docker.io`) is stored under `https://index.docker.io/v1/`.
 * - `auths` entries: `auth` (base64 `user:password`), or `username`/`password`, or
 *   `identitytoken`.
 * - Helpers: `docker-credential-<name> get` with the server address on stdin, answering
 *   `{"ServerURL","Username","Secret"}`; a Username of `<token>` makes Secret an identity token.
 *   "credentials not found" means none (not an error). `list` gives every address a helper knows
 *   (used for the build's registry config, as `docker build` sends all credentials).
 *
 * The result is an engine auth object (X-Registry-Auth / X-Registry-Config) plus where it came
 * from, for messages. Helpers run through src/shared/subprocess.ts.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EnvironmentError } from '../errors.js';
import { runTool } from '../shared/subprocess.js';

/** What the engine accepts as X-Registry-Auth (and per registry in X-Registry-Config). */
export interface EngineAuth {
  username?: string;
  password?: string;
  identitytoken?: string;
  serveraddress: string;
}

export interface RegistryCredentials {
  auth: EngineAuth;
  /** Where they came from, e.g. `auths in /home/me/.docker/config.json` or `docker-credential-pass`. */
  origin: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

export interface DockerConfigFile {
  /** Absolute path of the file (it may not exist). */
  path: string;
  auths: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers: Record<string, string>;
}

/** Runs `docker-credential-<helper> <action>` with `input` on stdin. Replaceable in tests. */
export type HelperRunner = (helper: string, action: 'get' | 'list', input: string, signal: AbortSignal) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** The config file the Docker CLI would read for `env`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv): string {
  const dir = env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), '.docker');
  return path.join(dir, 'config.json');
}

/** Parses config.json text (`file` for messages). Throws EnvironmentError when it is not a JSON object. */
export function parseDockerConfig(text: string, file: string): DockerConfigFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new EnvironmentError(`the Docker config ${file} is not valid JSON: ${(error as Error).message}`, {
      hint: `Fix or remove ${file} (docker login writes it again).`,
      cause: error,
    });
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    throw new EnvironmentError(`the Docker config ${file} is not a JSON object`, { hint: `Fix or remove ${file} (docker login writes it again).` });
  }
  const raw = data as Record<string, unknown>;
  const record = (value: unknown) => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {});
  const credHelpers: Record<string, string> = {};
  for (const [host, helper] of Object.entries(record(raw.credHelpers))) if (typeof helper === 'string' && helper) credHelpers[host] = helper;
  return {
    path: file,
    auths: record(raw.auths) as Record<string, AuthEntry>,
    ...(typeof raw.credsStore === 'string' && raw.credsStore ? { credsStore: raw.credsStore } : {}),
    credHelpers,
  };
}

/** Reads the config for `env`; an absent file is an empty config. */
export function readDockerConfig(env: NodeJS.ProcessEnv): DockerConfigFile {
  const file = dockerConfigPath(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return { path: file, auths: {}, credHelpers: {} };
    throw new EnvironmentError(`cannot read the Docker config ${file}: ${(error as Error).message}`, { hint: 'Check its permissions, or point DOCKER_CONFIG at another directory.', cause: error });
  }
  return parseDockerConfig(text, file);
}

/** The key a registry host is stored under: Docker Hub's URL for Docker Hub, else the host itself. */
export function registryKey(host: string): string {
  return HUB_HOSTS.has(host) ? DOCKER_HUB_KEY : host;
}

/** The Docker CLI's ConvertToHostname: `https://host:5000/v1/` -> `host:5000`. */
function hostnameOf(key: string): string {
  return key.replace(/^https?:\/\//, '').split('/')[0];
}

/** The helper that holds `host`'s credentials, if any: credHelpers first, then credsStore. */
export function helperFor(config: DockerConfigFile, host: string): string | undefined {
  const key = registryKey(host);
  return config.credHelpers[key] ?? config.credsStore;
}

function decodeEntry(entry: AuthEntry, serveraddress: string): EngineAuth | undefined {
  const auth: EngineAuth = { serveraddress };
  if (typeof entry.auth === 'string' && entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    auth.username = decoded.slice(0, colon);
    auth.password = decoded.slice(colon + 1);
  } else {
    if (typeof entry.username === 'string') auth.username = entry.username;
    if (typeof entry.password === 'string') auth.password = entry.password;
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken) auth.identitytoken = entry.identitytoken;
  return auth.username !== undefined || auth.identitytoken ? auth : undefined;
}

/** `host`'s entry in `auths` (exact key, then any key whose hostname is `host`). Pure. */
export function authFromFile(config: DockerConfigFile, host: string): EngineAuth | undefined {
  const key = registryKey(host);
  const exact = config.auths[key];
  if (exact) return decodeEntry(exact, key);
  for (const [k, entry] of Object.entries(config.auths)) {
    const name = hostnameOf(k);
    // serveraddress is the key as written, as the Docker CLI sends it
    if (name === host || (key === DOCKER_HUB_KEY && HUB_HOSTS.has(name))) return decodeEntry(entry, k);
  }
  return undefined;
}

export const defaultHelperRunner: HelperRunner = (helper, action, input, signal) =>
  runTool(`docker-credential-${helper}`, [action], {
    signal,
    input,
    missing: new EnvironmentError(`the Docker credential helper docker-credential-${helper} is not on PATH`, {
      hint: `Your Docker config names it (credsStore or credHelpers): install it, or remove it from the config and run docker login again.`,
    }),
  });

/** Asks `helper` for `serverAddress`; undefined when it has none. Throws EnvironmentError when the helper fails. */
export async function authFromHelper(helper: string, serverAddress: string, run: HelperRunner, signal: AbortSignal): Promise<EngineAuth | undefined> {
  const result = await run(helper, 'get', serverAddress, signal);
  const output = `${result.stdout}\n${result.stderr}`;
  if (result.exitCode !== 0) {
    if (/credentials not found/i.test(output)) return undefined;
    throw new EnvironmentError(`the Docker credential helper docker-credential-${helper} failed for ${serverAddress} (exit ${result.exitCode}): ${output.trim().split('\n')[0]}`, {
      hint: `Run \`echo ${serverAddress} | docker-credential-${helper} get\` to see why, or log in again with \`docker login ${serverAddress}\`.`,
    });
  }
  let answer: { Username?: unknown; Secret?: unknown; ServerURL?: unknown };
  try {
    answer = JSON.parse(result.stdout) as typeof answer;
  } catch {
    throw new EnvironmentError(`the Docker credential helper docker-credential-${helper} answered something other than JSON for ${serverAddress}`, {
      hint: `Run \`echo ${serverAddress} | docker-credential-${helper} get\` to see its answer.`,
    });
  }
  const username = typeof answer.Username === 'string' ? answer.Username : '';
  const secret = typeof answer.Secret === 'string' ? answer.Secret : '';
  if (!username && !secret) return undefined;
  if (username === '<token>') return { serveraddress: serverAddress, identitytoken: secret };
  return { serveraddress: serverAddress, username, password: secret };
}

/**
 * Credentials for registry hosts, read once per host per source (the file is read on first use).
 * `forHost` answers what `docker push` would send; `all` what `docker build` sends as its registry
 * config (every host of auths, credHelpers and the credsStore's list; a helper that fails there is
 * left out, since a build may well not need that registry).
 */
export function createCredentialSource(env: NodeJS.ProcessEnv, run: HelperRunner = defaultHelperRunner) {
  let config: DockerConfigFile | undefined;
  const file = () => (config ??= readDockerConfig(env));
  const byHost = new Map<string, Promise<RegistryCredentials | undefined>>();
  let everything: Promise<Record<string, EngineAuth>> | undefined;

  const lookUp = async (host: string, signal: AbortSignal): Promise<RegistryCredentials | undefined> => {
    const c = file();
    const helper = helperFor(c, host);
    if (helper) {
      const auth = await authFromHelper(helper, registryKey(host), run, signal);
      const from = c.credHelpers[registryKey(host)] ? 'credHelpers' : 'credsStore';
      return auth ? { auth, origin: `docker-credential-${helper} (${from} in ${c.path})` } : undefined;
    }
    const auth = authFromFile(c, host);
    return auth ? { auth, origin: `auths in ${c.path}` } : undefined;
  };

  const source = {
    /** Where credentials are read from, for messages. */
    get configPath(): string {
      return file().path;
    },
    forHost(host: string, signal: AbortSignal): Promise<RegistryCredentials | undefined> {
      let found = byHost.get(host);
      if (!found) {
        found = lookUp(host, signal);
        byHost.set(host, found);
        found.catch(() => byHost.delete(host));
      }
      return found;
    },
    all(signal: AbortSignal): Promise<Record<string, EngineAuth>> {
      everything ??= (async () => {
        const c = file();
        const hosts = new Set<string>([...Object.keys(c.auths).map((k) => (k === DOCKER_HUB_KEY ? 'docker.io' : hostnameOf(k))), ...Object.keys(c.credHelpers).map(hostnameOf)]);
        if (c.credsStore) {
          const listed = await run(c.credsStore, 'list', '', signal).catch(() => undefined);
          try {
            if (listed?.exitCode === 0) for (const address of Object.keys(JSON.parse(listed.stdout) as object)) hosts.add(hostnameOf(address) === 'index.docker.io' ? 'docker.io' : hostnameOf(address));
          } catch {
            // not JSON: nothing listed
          }
        }
        const out: Record<string, EngineAuth> = {};
        for (const host of hosts) {
          const found = await source.forHost(host, signal).catch(() => undefined);
          if (found) out[registryKey(host)] = found.auth;
        }
        return out;
      })();
      everything.catch(() => (everything = undefined));
      return everything;
    },
  };
  return source;
}

export type CredentialSource = ReturnType<typeof createCredentialSource>;
