/**
 * The sync batch's tar encoder: byte for byte what tar-stream's pack gives for the same entries
 * (which the Syncer used before), and an archive that busybox tar and GNU tar extract as meant.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tarStream from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTar, packTar, splitTar, type TarHeader } from './tar.js';

async function packWithTarStream(entries: ReadonlyArray<{ header: TarHeader; body?: Buffer }>): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => void chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const { header, body } of entries) {
    const common = { name: header.name, mode: header.mode, mtime: header.mtime, uid: 0, gid: 0 };
    if (header.type === 'symlink') pack.entry({ ...common, type: 'symlink', linkname: header.linkname });
    else if (header.type === 'directory') pack.entry({ ...common, type: 'directory' });
    else pack.entry({ ...common, type: 'file', size: body!.length }, body);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const mtime = new Date('2026-03-04T05:06:07.890Z');
const long = `${'deep/'.repeat(30)}file.txt`; // 158 bytes: ustar prefix + name
const tooLong = `${'x'.repeat(120)}/${'y'.repeat(120)}.txt`; // no split fits: PAX path
const entries: Array<{ header: TarHeader; body?: Buffer }> = [
  { header: { name: 'app/a.txt', mode: 0o644, mtime, type: 'file', size: 6 }, body: Buffer.from('hello\n') },
  { header: { name: 'app/empty', mode: 0o600, mtime, type: 'file', size: 0 }, body: Buffer.alloc(0) },
  { header: { name: 'app/bin/run', mode: 0o755, mtime, type: 'file', size: 700 }, body: Buffer.alloc(700, 7) },
  { header: { name: 'app/with space.txt', mode: 0o644, mtime, type: 'file', size: 1 }, body: Buffer.from('s') },
  { header: { name: 'app/ünïcödé-日本.txt', mode: 0o644, mtime, type: 'file', size: 2 }, body: Buffer.from('u\n') },
  { header: { name: `app/${long}`, mode: 0o644, mtime, type: 'file', size: 3 }, body: Buffer.from('l\n\n') },
  { header: { name: `app/${tooLong}`, mode: 0o644, mtime, type: 'file', size: 512 }, body: Buffer.alloc(512, 1) },
  { header: { name: 'app/link', mode: 0o777, mtime, type: 'symlink', size: 0, linkname: 'a.txt' } },
  { header: { name: 'app/ülink', mode: 0o777, mtime, type: 'symlink', size: 0, linkname: `../${'z'.repeat(140)}` } },
  { header: { name: 'app/dir', mode: 0o750, mtime, type: 'directory', size: 0 } },
];

describe('packTar', () => {
  it('gives the bytes tar-stream gives: ustar, prefix split, PAX path and linkpath, end blocks', async () => {
    const mine = packTar(entries).tar;
    const theirs = await packWithTarStream(entries);
    expect(mine.length).toBe(theirs.length);
    expect(mine.equals(theirs)).toBe(true);
  });

  it('gives the bytes tar-stream gives for a 1,000-file burst', async () => {
    const burst = Array.from({ length: 1000 }, (_, i) => ({
      header: { name: `app/public/burst/f${String(i).padStart(4, '0')}.txt`, mode: 0o644, mtime, type: 'file' as const, size: 0 },
      body: Buffer.from(`burst ${i}\n`.repeat(i % 7)),
    }));
    expect(packTar(burst).tar.equals(await packWithTarStream(burst))).toBe(true);
  });
});

describe('splitTar', () => {
  it('cuts at entry boundaries (PAX headers stay with their entry): each part is the archive of its run of entries', async () => {
    const parts = splitTar(packTar(entries), 4);
    const runs = [entries.slice(0, 3), entries.slice(3, 5), entries.slice(5, 8), entries.slice(8)];
    expect(parts).toHaveLength(4);
    for (const [i, run] of runs.entries()) expect(parts[i].equals(await packWithTarStream(run)), `part ${i}`).toBe(true);
  });

  it('gives no more parts than entries', async () => {
    const parts = splitTar(packTar(entries.slice(0, 3)), 4);
    expect(parts).toHaveLength(3);
    for (const [i, part] of parts.entries()) expect(part.equals(await packWithTarStream([entries[i]]))).toBe(true);
  });
});

describe('buildTar', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'devloop-tar-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  for (const [which, tar] of [
    ['busybox tar', ['/bin/busybox', 'tar']],
    ['GNU tar', ['/usr/bin/tar']],
  ] as const) {
    it(`reads the working tree into an archive ${which} extracts as meant`, async () => {
      const src = path.join(tmp, 'src');
      mkdirSync(src);
      writeFileSync(path.join(src, 'plain.txt'), 'plain\n');
      writeFileSync(path.join(src, 'run.sh'), '#!/bin/sh\necho hi\n');
      chmodSync(path.join(src, 'run.sh'), 0o755);
      writeFileSync(path.join(src, 'ünï cödé.txt'), 'unicode\n');
      symlinkSync('plain.txt', path.join(src, 'link'));
      const built = await buildTar([
        { localPath: path.join(src, 'plain.txt'), containerPath: '/app/plain.txt' },
        { localPath: path.join(src, 'run.sh'), containerPath: `/app/${long}` },
        { localPath: path.join(src, 'ünï cödé.txt'), containerPath: `/app/${tooLong}` },
        { localPath: path.join(src, 'link'), containerPath: '/app/link' },
        { localPath: path.join(src, 'gone.txt'), containerPath: '/app/gone.txt' },
      ]);
      expect(built.written).toEqual(['/app/plain.txt', `/app/${long}`, `/app/${tooLong}`, '/app/link']);
      expect(built.missing).toEqual(['/app/gone.txt']);
      const out = path.join(tmp, 'out');
      mkdirSync(out);
      execFileSync(tar[0], [...tar.slice(1), '-x', '-o', '-f', '-', '-C', out], { input: built.tar });
      expect(readFileSync(path.join(out, 'app/plain.txt'), 'utf8')).toBe('plain\n');
      expect(readFileSync(path.join(out, 'app', long), 'utf8')).toBe('#!/bin/sh\necho hi\n');
      expect(lstatSync(path.join(out, 'app', long)).mode & 0o777).toBe(0o755);
      expect(readFileSync(path.join(out, 'app', tooLong), 'utf8')).toBe('unicode\n');
      expect(readlinkSync(path.join(out, 'app/link'))).toBe('plain.txt');
      const mtimeSeconds = Math.floor(lstatSync(path.join(src, 'plain.txt')).mtimeMs / 1000);
      expect(Math.floor(lstatSync(path.join(out, 'app/plain.txt')).mtimeMs / 1000)).toBe(mtimeSeconds);
    });
  }

  it('is empty when every file is gone', async () => {
    const built = await buildTar([{ localPath: path.join(tmp, 'nope'), containerPath: '/app/nope' }]);
    expect(built).toEqual({ tar: Buffer.alloc(0), written: [], missing: ['/app/nope'], fileDirs: [], parentDirs: [], symlinks: false, entryEnds: [] });
  });
});
