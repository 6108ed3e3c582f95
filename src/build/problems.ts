/**
 * Known build problems: maps what the engine said about a failed step to what the user should do.
 * Pure; returns undefined when nothing specific is known (the step's output then speaks for itself).
 */
export interface BuildProblemInput {
  /** "Step 1/4 : FROM node:20-alpine" (classic) or "[base 1/4] COPY . /app" (BuildKit), when the engine said which step failed. */
  step?: string;
  /** The engine's error message. */
  message: string;
  /** The context directory relative to the config file, for messages. */
  context: string;
}

interface KnownProblem {
  matches(input: BuildProblemInput, instruction: string, argument: string): boolean;
  fix(input: BuildProblemInput, argument: string): string;
}

const unreachable = /no such host|dial tcp|i\/o timeout|TLS handshake timeout|connection refused|network is unreachable/i;
const missingImage = /pull access denied|repository does not exist|manifest unknown|manifest for .* not found|not found: manifest|requested access to the resource is denied/i;

const PROBLEMS: KnownProblem[] = [
  {
    // Seen with Docker 20.10: a CA put in /etc/docker/certs.d while dockerd runs is used by the
    // classic builder's pulls at once, by the engine's BuildKit only after dockerd restarts.
    matches: (input, instruction) => instruction === 'FROM' && /x509: certificate signed by unknown authority/i.test(input.message),
    fix: (_input, image) =>
      `the engine's BuildKit does not trust the certificate of the registry of ${image}. Put the registry's CA in /etc/docker/certs.d/<host>/ca.crt and restart dockerd (BuildKit reads it when the engine starts), or set builder: classic on this artifact (the classic builder pulls through the engine, which reads that directory on every pull).`,
  },
  {
    matches: (input, instruction) => instruction === 'FROM' && unreachable.test(input.message),
    fix: (_input, image) =>
      `the engine cannot reach the registry of the base image ${image}: load or build that image locally first (docker load, docker build -t ${image}), or fix the engine's network or proxy settings. If it is one of your artifacts, list it in requires and use FROM \${ALIAS}.`,
  },
  {
    matches: (input, instruction) => instruction === 'FROM' && missingImage.test(input.message),
    fix: (_input, image) =>
      `the base image ${image} does not exist or needs a login: check its name and tag, run docker login for its registry, or, if it is one of your artifacts, list it in requires and use FROM \${ALIAS}.`,
  },
  {
    matches: (input, instruction) => (instruction === 'COPY' || instruction === 'ADD') && /no such file or directory|not found|file does not exist/i.test(input.message),
    fix: (input) =>
      `a source of this ${input.step?.includes('ADD') ? 'ADD' : 'COPY'} is not in the build context ${input.context}: paths are relative to the context, and files excluded by its .dockerignore are not sent.`,
  },
  {
    matches: (input) => /unknown instruction|dockerfile parse error|Dockerfile parse error/i.test(input.message),
    fix: () => 'the Dockerfile does not parse: check the instruction named above (instructions are FROM, RUN, COPY, ADD, WORKDIR, ENV, ARG, CMD, ENTRYPOINT, EXPOSE, USER, LABEL, VOLUME...).',
  },
  {
    matches: (input) => /failed to reach build target|target stage .* could not be found/i.test(input.message),
    fix: () => 'the target named in build.artifacts[].target is not a stage of the Dockerfile: use a name from one of its `FROM ... AS <name>` lines.',
  },
];

/** What to do about a failed build, when the failure is a known one. */
export function suggestBuildFix(input: BuildProblemInput): string | undefined {
  // classic "Step 1/4 : FROM node:20"; BuildKit "[stage 1/4] COPY a b", or "[internal] load metadata for IMAGE" for a FROM
  const step = (input.step ?? '').replace(/^\[internal\] load metadata for /, 'FROM ');
  const match = /^(?:Step \d+\/\d+ :|\[[^\]]*\d+\/\d+\]) (\S+)\s*(.*)$/i.exec(step) ?? /^(FROM) (\S+)$/.exec(step);
  const instruction = (match?.[1] ?? '').toUpperCase();
  const argument = (match?.[2] ?? '').split(/\s+/)[0] ?? '';
  return PROBLEMS.find((p) => p.matches(input, instruction, argument))?.fix(input, argument);
}
