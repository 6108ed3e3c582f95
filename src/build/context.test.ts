import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listContext, tarContext } from './context.js';
import { createFileFilter } from './dockerignore.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-context-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function untar(stream: NodeJS.ReadableStream) {
  const entries: Array<{ name: string; type: string; mode: number; uid: number; linkname?: string | null; body: string }> = [];
  const extract = tar.extract();
  extract.on('entry', (header, body, next) => {
    let text = '';
    body.on('data', (d: Buffer) => (text += d.toString()));
    body.on('end', () => {
      entries.push({ name: header.name, type: header.type ?? '', mode: header.mode ?? 0, uid: header.uid ?? -1, linkname: header.linkname, body: text });
      next();
    });
  });
  stream.pipe(extract);
  await new Promise<void>((resolve, reject) => extract.on('finish', () => resolve()).on('error', reject));
  return entries;
}

describe('build context', () => {
  it('lists what .dockerignore lets through, sorted by bytes like Go, directories before their contents', async () => {
    mkdirSync(path.join(dir, 'b'));
    mkdirSync(path.join(dir, 'node_modules', 'x'), { recursive: true });
    writeFileSync(path.join(dir, 'b', 'z.txt'), 'z');
    writeFileSync(path.join(dir, 'B.txt'), 'B');
    writeFileSync(path.join(dir, 'a.txt'), 'a');
    writeFileSync(path.join(dir, 'node_modules', 'x', 'i.js'), '');
    const entries = await listContext(dir, createFileFilter(['node_modules']));
    expect(entries.map((e) => `${e.type} ${e.relPath}`)).toEqual(['file B.txt', 'file a.txt', 'directory b', 'file b/z.txt']);
  });

  it('streams files, modes, symlinks and long names as a tar owned by root', async () => {
    const long = `${'d'.repeat(60)}/${'f'.repeat(120)}.txt`;
    mkdirSync(path.join(dir, path.dirname(long)));
    writeFileSync(path.join(dir, long), 'long');
    writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\n');
    chmodSync(path.join(dir, 'run.sh'), 0o755);
    symlinkSync('run.sh', path.join(dir, 'link'));
    const entries = await listContext(dir, createFileFilter([]));
    const out = await untar((await tarContext(entries)) as unknown as NodeJS.ReadableStream);
    expect(out.map((e) => [e.name, e.type])).toEqual([
      [`${'d'.repeat(60)}`, 'directory'],
      [long, 'file'],
      ['link', 'symlink'],
      ['run.sh', 'file'],
    ]);
    expect(out.find((e) => e.name === long)!.body).toBe('long');
    expect(out.find((e) => e.name === 'run.sh')!.mode & 0o777).toBe(0o755);
    expect(out.find((e) => e.name === 'link')!.linkname).toBe('run.sh');
    expect(out.every((e) => e.uid === 0)).toBe(true);
  });
});
