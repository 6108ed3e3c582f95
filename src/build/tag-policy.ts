/**
 * The non-digest tag policies. `inputDigest` lives in inputs.ts.
 * - gitCommit: the short commit sha of HEAD, with `-dirty` when the context directory has
 *   uncommitted changes (tracked or untracked, as `git status` sees them). EnvironmentError (exit 1,
 *   with what to do) outside a git repository, before its first commit, or when git fails: the
 *   project's state, not the command line, is what must change.
 * - dateTime: the build time in UTC, `YYYYMMDD-HHMMSS`.
 */
import { execFile } from 'node:child_process';
import { EnvironmentError } from '../errors.js';

function git(args: string[], cwd: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, signal, timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(error, { stderr: String(stderr) }));
      else resolve(String(stdout));
    });
  });
}

export async function gitCommitTag(contextDir: string, signal?: AbortSignal): Promise<string> {
  let sha: string;
  try {
    sha = (await git(['rev-parse', '--short', 'HEAD'], contextDir, signal)).trim();
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new EnvironmentError('tagPolicy gitCommit needs git, which is not installed', { hint: 'Install git, or use tagPolicy: inputDigest.' });
    const text = e.stderr ?? e.message;
    if (/not a git repository/i.test(text)) {
      throw new EnvironmentError(`tagPolicy gitCommit: ${contextDir} is not inside a git repository`, { hint: 'Run `git init` and commit, or set build.tagPolicy to inputDigest.' });
    }
    if (/unknown revision|ambiguous argument 'HEAD'|Needed a single revision/i.test(text)) {
      throw new EnvironmentError(`tagPolicy gitCommit: the repository at ${contextDir} has no commit yet`, { hint: 'Commit once, or set build.tagPolicy to inputDigest.' });
    }
    throw new EnvironmentError(`tagPolicy gitCommit: git failed in ${contextDir}: ${text.trim()}`);
  }
  const status = await git(['status', '--porcelain', '--', '.'], contextDir, signal);
  return status.trim() === '' ? sha : `${sha}-dirty`;
}

export function dateTimeTag(now: Date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
}
