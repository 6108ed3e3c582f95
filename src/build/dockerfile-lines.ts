/**
 * Where things are in a Dockerfile, for messages that name file:line. Pure; reads only the text.
 *
 * Follows the Dockerfile reference as far as these questions need: parser directives
 * (`# syntax=...`) are comment lines at the very top, before any other comment, blank line or
 * instruction; an instruction continues over lines ending in `\` (comment lines inside it are
 * skipped); `RUN --mount=<options>` flags come before the command.
 */

export interface DockerfileInstruction {
  /** 1-based line the instruction starts on. */
  line: number;
  /** Upper-case keyword: RUN, FROM, COPY... */
  keyword: string;
  /** The instruction with its continuation lines joined by a space, as BuildKit names the step. */
  text: string;
}

/** The instructions of a Dockerfile, in order. */
export function dockerfileInstructions(text: string): DockerfileInstruction[] {
  const lines = text.split(/\r?\n/);
  const out: DockerfileInstruction[] = [];
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i].trim();
    if (first === '' || first.startsWith('#')) continue;
    const start = i;
    const parts: string[] = [];
    let current = lines[i];
    for (;;) {
      const continued = /\\\s*$/.test(current);
      parts.push(current.replace(/\\\s*$/, '').trim());
      if (!continued || i + 1 >= lines.length) break;
      i++;
      current = lines[i];
      while (/^\s*#/.test(current) && i + 1 < lines.length) current = lines[++i];
    }
    const joined = parts.filter(Boolean).join(' ');
    out.push({ line: start + 1, keyword: (joined.split(/\s+/)[0] ?? '').toUpperCase(), text: joined });
  }
  return out;
}

/** The `# syntax=IMAGE` parser directive and its line, when the Dockerfile has one. */
export function syntaxDirective(text: string): { line: number; image: string } | undefined {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const directive = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(lines[i]);
    if (!directive) return undefined;
    if (directive[1].toLowerCase() === 'syntax') return { line: i + 1, image: directive[2] };
  }
  return undefined;
}

export interface SessionMount {
  line: number;
  type: 'secret' | 'ssh';
  /** The RUN instruction, continuation lines joined. */
  instruction: string;
}

/**
 * `RUN --mount=type=secret|ssh` flags that need a client session serving them. A mount marked
 * `required=false` is left out: without a session the step runs without it, as with
 * `docker build` given no --secret/--ssh.
 */
export function sessionMounts(text: string): SessionMount[] {
  const out: SessionMount[] = [];
  for (const instruction of dockerfileInstructions(text)) {
    if (instruction.keyword !== 'RUN') continue;
    for (const flag of instruction.text.matchAll(/--mount=(\S+)/g)) {
      const options = new Map(
        flag[1].split(',').map((kv) => {
          const [k, ...v] = kv.split('=');
          return [k.toLowerCase(), v.join('=')] as const;
        }),
      );
      const type = options.get('type');
      if ((type === 'secret' || type === 'ssh') && options.get('required') !== 'false') out.push({ line: instruction.line, type, instruction: instruction.text });
    }
  }
  return out;
}

/**
 * The one registry host every base image of the Dockerfile comes from, when there is exactly one:
 * FROM images with `${ARG}`/`$ARG` replaced from `buildArgs` (then from the ARG defaults before
 * the first FROM), stage names and `scratch` left out. Undefined when a base names no registry
 * (Docker Hub), an argument is unknown, bases come from several registries, or a `# syntax=`
 * line makes the engine pull a frontend too. A BuildKit session may then answer with that
 * registry's credential only.
 */
export function soleBaseRegistry(text: string, buildArgs: Readonly<Record<string, string>>): string | undefined {
  if (syntaxDirective(text)) return undefined;
  const defaults: Record<string, string> = {};
  const stages = new Set<string>();
  const hosts = new Set<string>();
  let sawFrom = false;
  for (const instruction of dockerfileInstructions(text)) {
    if (instruction.keyword === 'ARG' && !sawFrom) {
      const m = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?/i.exec(instruction.text);
      if (m && m[2] !== undefined) defaults[m[1]] = m[2].replace(/^["']|["']$/g, '');
      continue;
    }
    if (instruction.keyword !== 'FROM') continue;
    sawFrom = true;
    const words = instruction.text.split(/\s+/).slice(1).filter((w) => !w.startsWith('--'));
    const [image, as, stage] = words;
    if (!image) return undefined;
    let unknown = false;
    const resolved = image.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a: string, b: string) => {
      const value = buildArgs[a ?? b] ?? defaults[a ?? b];
      if (value === undefined) unknown = true;
      return value ?? '';
    });
    if (unknown) return undefined;
    if (as?.toUpperCase() === 'AS' && stage) stages.add(stage.toLowerCase());
    if (stages.has(resolved.toLowerCase()) || resolved === 'scratch') continue;
    const first = resolved.split('/')[0];
    const host = resolved.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : undefined;
    if (!host) return undefined;
    hosts.add(host);
  }
  return hosts.size === 1 ? [...hosts][0] : undefined;
}
