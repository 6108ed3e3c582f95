import { describe, expect, it } from 'vitest';
import { EnvironmentError } from '../errors.js';
import { runTool } from './subprocess.js';

describe('runTool', () => {
  const missing = new EnvironmentError('no-such-tool is not installed', { hint: 'Install it.' });

  it('throws the caller\'s EnvironmentError when the command is not on PATH', async () => {
    await expect(runTool('devloop-no-such-tool', ['x'], { signal: new AbortController().signal, missing })).rejects.toBe(missing);
  });

  it('returns the exit code and output of a failing command instead of throwing', async () => {
    const result = await runTool('sh', ['-c', 'echo out; echo err >&2; exit 3'], { signal: new AbortController().signal, missing });
    expect(result).toEqual({ exitCode: 3, stdout: 'out', stderr: 'err' });
  });

  it('keeps the final newline when asked', async () => {
    const result = await runTool('printf', ['a\\n'], { signal: new AbortController().signal, missing, stripFinalNewline: false });
    expect(result.stdout).toBe('a\n');
  });

  it('rejects with an AbortError when the signal aborts', async () => {
    const controller = new AbortController();
    const running = runTool('sleep', ['5'], { signal: controller.signal, missing });
    setTimeout(() => controller.abort(), 50);
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
  });
});
