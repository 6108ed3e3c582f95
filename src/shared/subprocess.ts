/**
 * Runs an outside tool (kubectl kustomize, helm, kind, ...) to completion.
 * - The command not on PATH (ENOENT) throws `missing`: an EnvironmentError that names the tool and
 *   what to install, given by the caller, never a spawn stack trace.
 * - `signal` aborted: throws an AbortError (the top-level handler reports it as interrupted).
 * - Any exit code is returned, not thrown: the caller decides what a failure means.
 */
import type { EnvironmentError } from '../errors.js';

export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function runTool(
  command: string,
  args: readonly string[],
  options: { signal: AbortSignal; missing: EnvironmentError; cwd?: string; stripFinalNewline?: boolean; /** Written to the tool's stdin. */ input?: string },
): Promise<ToolResult> {
  const { execa } = await import('execa');
  const { missing, signal } = options;
  let result;
  try {
    result = await execa(command, [...args], { cwd: options.cwd, cancelSignal: signal, reject: false, stripFinalNewline: options.stripFinalNewline ?? true, ...(options.input !== undefined ? { input: options.input } : {}) });
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') throw missing;
    throw error;
  }
  if ((result as { code?: string }).code === 'ENOENT' || (result.failed && /ENOENT/.test(String((result as { originalMessage?: string }).originalMessage ?? result.message ?? '')))) throw missing;
  if (signal.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
}
