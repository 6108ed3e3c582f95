/**
 * The Syncer and its agent, run against local processes instead of containers: the real agent
 * script under busybox sh with busybox tar and head (the same userland as the fixture images),
 * writing into a temp directory. The Kubernetes exec transport is covered by test/sync.test.ts.
 */
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, readdirSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CollectingSink } from '../events.js';
import type { ExecStream } from '../kube/exec.js';
import type { AgentLauncher } from './agent.js';
import { ClusterUnreachableError, KubeApiError } from '../kube/errors.js';
import { createSyncer, IN_PLACE_MAX_DIRS, inPlaceDirs, SyncUnusableError, type ContainerTarget } from './index.js';

const BUSYBOX = '/bin/busybox';

let tmp: string;
let work: string; // the working tree
let box: string; // the "container" filesystem area (absolute paths under it)
let bin: string;

/** A PATH directory with busybox applets; `sh` may be given as an absolute path to another shell. */
function makeBin(tools: string[], sh = BUSYBOX, tar = BUSYBOX): string {
  const dir = mkdtempSync(path.join(tmp, 'bin-'));
  for (const t of tools) symlinkSync(t === 'sh' ? sh : t === 'tar' ? tar : BUSYBOX, path.join(dir, t));
  return dir;
}

/** GNU tar, as in Debian-based images (the host's); run under dash, Debian's sh (busybox sh would run its own tar applet). */
const GNU_TAR = '/usr/bin/tar';

/** Runs the agent as a local process with only `tools` on PATH, in `cwd`. Counts launches. */
function localLauncher(options: { tools?: string[]; sh?: string; tar?: string; cwd?: string } = {}): AgentLauncher & { launches: number; kill(): void } {
  const binDir = options.tools ? makeBin(options.tools, options.sh, options.tar) : bin;
  const children: Array<ReturnType<typeof spawn>> = [];
  const launcher = (async (_target, command, handlers) => {
    launcher.launches++;
    const child = spawn(path.join(binDir, 'sh'), command.slice(1), { env: { PATH: binDir }, cwd: options.cwd ?? box, stdio: 'pipe' });
    children.push(child);
    child.stdout.on('data', handlers.onStdout);
    child.stderr.on('data', handlers.onStderr);
    // 'close', not 'exit': like the exec status, it comes after the last output.
    const exited = new Promise<{ code?: number; message: string }>((resolve) => child.on('close', (code) => resolve({ code: code ?? undefined, message: `exited with code ${code}` })));
    const stream: ExecStream = {
      write: (data) => void child.stdin.write(data),
      close: () => child.kill(),
      exited,
    };
    return stream;
  }) as AgentLauncher & { launches: number; kill(): void };
  launcher.launches = 0;
  launcher.kill = () => children.forEach((c) => c.kill('SIGKILL'));
  return launcher;
}

const target = (pod = 'p1'): ContainerTarget => ({ namespace: 'ns', pod, container: 'c', image: 'blog/posts' });
const signal = () => new AbortController().signal;

beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'devloop-syncer-'));
  work = path.join(tmp, 'work');
  box = path.join(tmp, 'box');
  mkdirSync(work);
  mkdirSync(box);
  bin = makeBin(['sh', 'tar', 'head', 'rm', 'cat', 'pwd']);
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

function writeWork(rel: string, content: string | Buffer, mode?: number): string {
  const p = path.join(work, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  if (mode !== undefined) chmodSync(p, mode);
  return p;
}

describe('Syncer over the sh agent', () => {
  it('copies files with spaces and unicode names, symlinks as links, executable bits and a 5 MB file', async () => {
    const sink = new CollectingSink();
    const launcher = localLauncher();
    const syncer = createSyncer({ kubeConfig: undefined as never }, sink, { launch: launcher });
    const big = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251;
    const files = {
      'a b/c d.txt': 'spaces',
      'ünï/cödé 日本.txt': 'unicode',
      'run.sh': '#!/bin/sh\necho hi\n',
      'big.bin': big,
      [`${'long-directory-name/'.repeat(8)}file.txt`]: 'long path',
    };
    const copy = Object.entries(files).map(([rel, content]) => ({
      localPath: writeWork(rel, content, rel === 'run.sh' ? 0o755 : 0o644),
      containerPath: path.join(box, 'app', rel),
    }));
    symlinkSync('run.sh', path.join(work, 'link'));
    copy.push({ localPath: path.join(work, 'link'), containerPath: path.join(box, 'app', 'link') });

    await syncer.sync({ image: 'blog/posts', copy, delete: [] }, [target()], signal());

    for (const [rel, content] of Object.entries(files)) {
      // Buffer.equals: vitest's deep equality walks 5 M elements one by one.
      expect(readFileSync(path.join(box, 'app', rel)).equals(Buffer.from(content)), rel).toBe(true);
    }
    expect(statSync(path.join(box, 'app', 'run.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(box, 'app', 'a b/c d.txt')).mode & 0o777).toBe(0o644);
    expect(lstatSync(path.join(box, 'app', 'link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path.join(box, 'app', 'link'))).toBe('run.sh');
    const events = sink.ofType('sync');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ artifact: 'blog/posts', status: 'synced', pod: 'p1', container: 'c' });
    expect(events[0].copied).toHaveLength(copy.length);
    await syncer.close();
  });

  it('sends a 1,000-file burst gzipped where gunzip exists, in PARTS archives extracted at once where dd reads exactly, one plain archive otherwise', async () => {
    const headers: string[] = [];
    const recording = (inner: AgentLauncher): AgentLauncher => async (t, command, handlers) => {
      const stream = await inner(t, command, handlers);
      return { ...stream, write: (data) => (headers.push(Buffer.from(data).toString('latin1').split('\n').slice(0, 6).join('|')), stream.write(data)) };
    };
    const copy = Array.from({ length: 1000 }, (_, i) => ({ localPath: writeWork(`burst/f${i}.txt`, `line ${i}\n`), containerPath: path.join(box, 'app/burst', `f${i}.txt`) }));
    const everyFileWritten = () => {
      for (let i = 0; i < 1000; i++) expect(readFileSync(path.join(box, 'app/burst', `f${i}.txt`), 'utf8'), `f${i}`).toBe(`line ${i}\n`);
    };
    const partsLeftBehind = () => readdirSync('/dev/shm').filter((name) => name.startsWith('.devloop-sync-'));

    // busybox sh runs its own applets (dd, find) whatever PATH holds
    const gzipSyncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: recording(localLauncher({ tools: ['sh', 'tar', 'head', 'rm', 'cat', 'pwd', 'gunzip'] })) });
    // one container after the other: both "containers" here extract into the same local directory,
    // and two tars writing the same files at once race (real containers have their own filesystems)
    await gzipSyncer.sync({ image: 'blog/posts', copy, delete: [] }, [target('g1')], signal());
    everyFileWritten();
    await gzipSyncer.sync({ image: 'blog/posts', copy, delete: [] }, [target('g2')], signal());
    everyFileWritten();
    expect(headers).toHaveLength(2);
    for (const h of headers) {
      // the burst's one directory checked (in place), then the byte count of each of the 4 parts
      const [header, dir, ...sizes] = h.split('|');
      expect(header).toMatch(/^B 1 \d+ 0 1 4 z$/);
      expect(dir).toBe(path.join(box, 'app/burst'));
      expect(sizes.slice(0, 4).reduce((sum, size) => sum + Number(size), 0)).toBe(Number(header.split(' ')[2]));
    }
    expect(Number(headers[0].split(' ')[2])).toBeLessThan(100_000); // 1 MB of tar
    // one small file is neither worth compressing nor splitting
    await gzipSyncer.sync({ image: 'blog/posts', copy: [copy[0]], delete: [] }, [target('g1')], signal());
    expect(headers[2]).toMatch(/^B 2 \d+ 0 1 1\|/);
    await gzipSyncer.close();
    expect(partsLeftBehind()).toEqual([]);

    // dash with GNU tar (a Debian image), no gunzip: plain parts
    rmSync(path.join(box, 'app/burst'), { recursive: true });
    const plainSyncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), {
      launch: recording(localLauncher({ tools: ['sh', 'tar', 'head', 'rm', 'cat', 'dd', 'mkdir'], sh: '/bin/dash', tar: GNU_TAR })),
    });
    await plainSyncer.sync({ image: 'blog/posts', copy, delete: [] }, [target('p1')], signal());
    expect(headers[3]).toMatch(/^B 1 \d+ 0 -1 4\|/);
    everyFileWritten();
    await plainSyncer.close();

    // and without dd: one archive
    rmSync(path.join(box, 'app/burst'), { recursive: true });
    const oneSyncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), {
      launch: recording(localLauncher({ tools: ['sh', 'tar', 'head', 'rm', 'cat', 'gunzip'], sh: '/bin/dash', tar: GNU_TAR })),
    });
    await oneSyncer.sync({ image: 'blog/posts', copy, delete: [] }, [target('d1')], signal());
    expect(headers[4]).toMatch(/^B 1 \d+ 0 -1 1 z\|/);
    everyFileWritten();
    await oneSyncer.close();
    expect(partsLeftBehind()).toEqual([]);
  });

  it('reports a part that failed with tar\'s own words; the other parts are written, the channel stays usable', async () => {
    const launcher = localLauncher();
    const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: launcher });
    writeFileSync(path.join(box, 'notadir'), 'file');
    // 100 files: the last part's last file goes under a regular file
    const copy = Array.from({ length: 100 }, (_, i) => ({
      localPath: writeWork(`many/f${i}.txt`, `n ${i}`),
      containerPath: i === 99 ? path.join(box, 'notadir/f99.txt') : path.join(box, 'many', `f${i}.txt`),
    }));
    const error = await syncer.sync({ image: 'blog/posts', copy, delete: [] }, [target()], signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/sync into ns\/p1\/c \(blog\/posts\) failed: tar: .*notadir/);
    for (let i = 0; i < 99; i++) expect(readFileSync(path.join(box, 'many', `f${i}.txt`), 'utf8')).toBe(`n ${i}`);
    await syncer.sync({ image: 'blog/posts', copy: copy.slice(0, 98), delete: [] }, [target()], signal());
    await syncer.sync({ image: 'blog/posts', copy: [{ localPath: writeWork('b', 'b'), containerPath: path.join(box, 'ok/b') }], delete: [] }, [target()], signal());
    expect(readFileSync(path.join(box, 'ok/b'), 'utf8')).toBe('b');
    expect(launcher.launches).toBe(1);
    await syncer.close();
  });

  it('deletes files and directories, and turns a vanished local file into a delete', async () => {
    const launcher = localLauncher();
    const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: launcher });
    mkdirSync(path.join(box, 'app/dir/sub'), { recursive: true });
    writeFileSync(path.join(box, 'app/dir/sub/x'), 'x');
    writeFileSync(path.join(box, 'app/file with space'), 'y');
    writeFileSync(path.join(box, 'app/vanished'), 'z');
    await syncer.sync(
      {
        image: 'blog/posts',
        copy: [{ localPath: path.join(work, 'never-existed'), containerPath: path.join(box, 'app/vanished') }],
        delete: [path.join(box, 'app/dir'), path.join(box, 'app/file with space')],
      },
      [target()],
      signal(),
    );
    expect(existsSync(path.join(box, 'app/dir'))).toBe(false);
    expect(existsSync(path.join(box, 'app/file with space'))).toBe(false);
    expect(existsSync(path.join(box, 'app/vanished'))).toBe(false);
    await syncer.close();
  });

  // node --watch (Linux) watches the file, not its directory: a replaced file ends its watching.
  // A hard link made beforehand shows whether the file was rewritten in place (same inode).
  it('rewrites an existing file in place with GNU tar (watchers of the file see every change), and never writes through a symlink', async () => {
    const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: localLauncher({ tools: ['sh', 'tar', 'head', 'rm', 'cat', 'pwd'], sh: '/bin/dash', tar: GNU_TAR }) });
    mkdirSync(path.join(box, 'app'));
    writeFileSync(path.join(box, 'app/handler.js'), 'old');
    linkSync(path.join(box, 'app/handler.js'), path.join(box, 'same-inode'));
    writeFileSync(path.join(box, 'victim'), 'untouched');
    symlinkSync('../victim', path.join(box, 'app/was-a-link'));
    writeFileSync(path.join(box, 'app/becomes-a-link'), 'file');
    writeWork('handler.js', 'new 1');
    writeWork('was-a-link', 'a file now');
    symlinkSync('handler.js', path.join(work, 'becomes-a-link'));
    const copy = ['handler.js', 'was-a-link', 'becomes-a-link'].map((rel) => ({ localPath: path.join(work, rel), containerPath: path.join(box, 'app', rel) }));
    await syncer.sync({ image: 'blog/posts', copy, delete: [] }, [target()], signal());
    expect(readFileSync(path.join(box, 'same-inode'), 'utf8')).toBe('new 1');
    writeWork('handler.js', 'new 2');
    await syncer.sync({ image: 'blog/posts', copy: copy.slice(0, 1), delete: [] }, [target()], signal());
    expect(readFileSync(path.join(box, 'same-inode'), 'utf8')).toBe('new 2');
    expect(readFileSync(path.join(box, 'victim'), 'utf8')).toBe('untouched');
    expect(lstatSync(path.join(box, 'app/was-a-link')).isFile()).toBe(true);
    expect(readFileSync(path.join(box, 'app/was-a-link'), 'utf8')).toBe('a file now');
    expect(readlinkSync(path.join(box, 'app/becomes-a-link'))).toBe('handler.js');
    await syncer.close();
  });

  it('replaces an existing file with busybox tar (its --overwrite would follow symlinks), links included', async () => {
    const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: localLauncher() });
    mkdirSync(path.join(box, 'app'));
    writeFileSync(path.join(box, 'app/handler.js'), 'old');
    linkSync(path.join(box, 'app/handler.js'), path.join(box, 'same-inode'));
    writeFileSync(path.join(box, 'victim'), 'untouched');
    symlinkSync('../victim', path.join(box, 'app/was-a-link'));
    writeWork('handler.js', 'new');
    writeWork('was-a-link', 'a file now');
    const copy = ['handler.js', 'was-a-link'].map((rel) => ({ localPath: path.join(work, rel), containerPath: path.join(box, 'app', rel) }));
    await syncer.sync({ image: 'blog/posts', copy, delete: [] }, [target()], signal());
    expect(readFileSync(path.join(box, 'app/handler.js'), 'utf8')).toBe('new');
    expect(readFileSync(path.join(box, 'same-inode'), 'utf8')).toBe('old');
    expect(readFileSync(path.join(box, 'victim'), 'utf8')).toBe('untouched');
    expect(readFileSync(path.join(box, 'app/was-a-link'), 'utf8')).toBe('a file now');
    await syncer.close();
  });

  describe('busybox tar in place', () => {
    const burst = (n: number, content: string) =>
      Array.from({ length: n }, (_, i) => ({ localPath: writeWork(`burst/f${i}.txt`, `${content} ${i}`), containerPath: path.join(box, 'app/burst', `f${i}.txt`) }));
    /**
     * What a descriptor opened on `file` before `work` reads after it: the new content only if
     * the file was rewritten in place (an inode number alone could be reused by a recreated file).
     */
    const readThroughDescriptorOpenedBefore = async (file: string, work: () => Promise<void>): Promise<string> => {
      const fd = openSync(file, 'r');
      try {
        await work();
        return readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    };
    /** A launcher that records each batch header (the first line of each write). */
    const recording = (inner: AgentLauncher, headers: string[]): AgentLauncher => async (t, command, handlers) => {
      const stream = await inner(t, command, handlers);
      return { ...stream, write: (data) => (headers.push(Buffer.from(data).toString('latin1').split('\n')[0]), stream.write(data)) };
    };

    it('rewrites the files of a checked directory in place: same files, new content', async () => {
      const headers: string[] = [];
      const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: recording(localLauncher(), headers) });
      await syncer.sync({ image: 'blog/posts', copy: burst(10, 'one'), delete: [] }, [target()], signal());
      const held = await readThroughDescriptorOpenedBefore(path.join(box, 'app/burst/f3.txt'), () =>
        syncer.sync({ image: 'blog/posts', copy: burst(10, 'two'), delete: [] }, [target()], signal()),
      );
      expect(held).toBe('two 3');
      expect(headers[1]).toMatch(/^B 2 \d+ 0 1 1$/);
      await syncer.close();
    });

    it('recreates instead when a checked directory holds a symlink or a hard-linked file: neither is written through', async () => {
      const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: localLauncher() });
      mkdirSync(path.join(box, 'app/burst'), { recursive: true });
      writeFileSync(path.join(box, 'victim'), 'untouched');
      symlinkSync('../../victim', path.join(box, 'app/burst/f0.txt'));
      const copy = burst(10, 'new');
      await syncer.sync({ image: 'blog/posts', copy, delete: [] }, [target()], signal());
      expect(readFileSync(path.join(box, 'victim'), 'utf8')).toBe('untouched');
      expect(lstatSync(path.join(box, 'app/burst/f0.txt')).isFile()).toBe(true);

      linkSync(path.join(box, 'app/burst/f1.txt'), path.join(box, 'other-name'));
      const held = await readThroughDescriptorOpenedBefore(path.join(box, 'app/burst/f5.txt'), () =>
        syncer.sync({ image: 'blog/posts', copy: burst(10, 'newer'), delete: [] }, [target()], signal()),
      );
      // the whole batch went the default way: f5 is a new file, the old one keeps its content
      expect(held).toBe('new 5');
      expect(readFileSync(path.join(box, 'other-name'), 'utf8')).toBe('new 1');
      expect(readFileSync(path.join(box, 'app/burst/f1.txt'), 'utf8')).toBe('newer 1');
      await syncer.close();
    });

    it('sends a batch that failed in place again the default way, and stops trying in place for that container', async () => {
      const headers: string[] = [];
      const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: recording(localLauncher(), headers) });
      // a socket passes the check (neither symlink nor file) but cannot be opened for writing: replaced only by unlinking it
      mkdirSync(path.join(box, 'app/burst'), { recursive: true });
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(path.join(box, 'app/burst/f2.txt'), resolve));
      try {
        await syncer.sync({ image: 'blog/posts', copy: burst(10, 'new'), delete: [] }, [target()], signal());
        expect(lstatSync(path.join(box, 'app/burst/f2.txt')).isFile()).toBe(true);
        expect(readFileSync(path.join(box, 'app/burst/f2.txt'), 'utf8')).toBe('new 2');
        expect(headers.map((h) => h.split(' ')[4])).toEqual(['1', '-1']);
        await syncer.sync({ image: 'blog/posts', copy: burst(10, 'newer'), delete: [] }, [target()], signal());
        expect(headers[2].split(' ')[4]).toBe('-1');
        expect(readFileSync(path.join(box, 'app/burst/f9.txt'), 'utf8')).toBe('newer 9');
      } finally {
        server.close(); // (node unlinks the socket's path on close: only after the checks)
        await syncer.close();
      }
    });

    it('recreates files where find is missing (the check cannot run)', async () => {
      const headers: string[] = [];
      // dash, not busybox sh: busybox sh would run its own find applet
      const launcher = localLauncher({ tools: ['sh', 'tar', 'head', 'rm', 'cat', 'pwd'], sh: '/bin/dash' });
      const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: recording(launcher, headers) });
      await syncer.sync({ image: 'blog/posts', copy: burst(3, 'one'), delete: [] }, [target()], signal());
      const held = await readThroughDescriptorOpenedBefore(path.join(box, 'app/burst/f1.txt'), () =>
        syncer.sync({ image: 'blog/posts', copy: burst(3, 'two'), delete: [] }, [target()], signal()),
      );
      expect(held).toBe('one 1');
      expect(readFileSync(path.join(box, 'app/burst/f1.txt'), 'utf8')).toBe('two 1');
      expect(headers.map((h) => h.split(' ')[4])).toEqual(['-1', '-1']);
      await syncer.close();
    });

    it('checks at most IN_PLACE_MAX_DIRS directories: a batch spread wider goes the default way', () => {
      const dirs = (n: number) => Array.from({ length: n }, (_, i) => `/app/d${i}`);
      expect(inPlaceDirs({ fileDirs: dirs(IN_PLACE_MAX_DIRS), symlinks: false })).toHaveLength(IN_PLACE_MAX_DIRS);
      expect(inPlaceDirs({ fileDirs: dirs(IN_PLACE_MAX_DIRS + 1), symlinks: false })).toBeUndefined();
      expect(inPlaceDirs({ fileDirs: dirs(1), symlinks: true })).toBeUndefined();
      expect(inPlaceDirs({ fileDirs: [], symlinks: false })).toBeUndefined(); // deletes or directories only
    });

    it('never checks a batch with a symlink entry; a single file is checked like a burst', async () => {
      const headers: string[] = [];
      const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: recording(localLauncher(), headers) });
      const copy = burst(10, 'new');
      symlinkSync('f0.txt', path.join(work, 'burst/link'));
      await syncer.sync({ image: 'blog/posts', copy: [...copy, { localPath: path.join(work, 'burst/link'), containerPath: path.join(box, 'app/burst/link') }], delete: [] }, [target()], signal());
      expect(readlinkSync(path.join(box, 'app/burst/link'))).toBe('f0.txt');
      // the directory now holds a symlink: checked, then written the default way (the link stays a link)
      await syncer.sync({ image: 'blog/posts', copy: copy.slice(0, 1), delete: [] }, [target()], signal());
      expect(headers.map((h) => h.split(' ')[4])).toEqual(['-1', '1']);
      expect(readlinkSync(path.join(box, 'app/burst/link'))).toBe('f0.txt');
      await syncer.close();
    });
  });

  it('resolves relative destinations against the agent working directory (WORKDIR) or target.workdir', async () => {
    const workdir = path.join(box, 'wd');
    mkdirSync(workdir);
    const launcher = localLauncher({ cwd: workdir });
    const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: launcher });
    const local = writeWork('rel.txt', 'relative');
    await syncer.sync({ image: 'blog/posts', copy: [{ localPath: local, containerPath: 'static/rel.txt' }], delete: [] }, [target()], signal());
    expect(readFileSync(path.join(workdir, 'static/rel.txt'), 'utf8')).toBe('relative');
    const other = path.join(box, 'other');
    await syncer.sync({ image: 'blog/posts', copy: [{ localPath: local, containerPath: 'static/rel.txt' }], delete: [] }, [{ ...target('p2'), workdir: other }], signal());
    expect(readFileSync(path.join(other, 'static/rel.txt'), 'utf8')).toBe('relative');
    await syncer.close();
  });

  it('keeps one channel per container across syncs, applies overlapping batches in order, and reopens a broken one', async () => {
    const launcher = localLauncher();
    const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: launcher });
    const dest = path.join(box, 'app/counter.txt');
    const local = path.join(work, 'counter.txt');
    const runs: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      writeFileSync(local, `v${i}`);
      // Each op carries its own snapshot file so ordering is observable.
      const snapshot = writeWork(`snap/${i}.txt`, `v${i}`);
      runs.push(syncer.sync({ image: 'blog/posts', copy: [{ localPath: snapshot, containerPath: dest }], delete: [] }, [target()], signal()));
    }
    await Promise.all(runs);
    expect(readFileSync(dest, 'utf8')).toBe('v19');
    expect(launcher.launches).toBe(1);

    launcher.kill();
    await new Promise((r) => setTimeout(r, 100));
    await syncer.sync({ image: 'blog/posts', copy: [{ localPath: writeWork('after.txt', 'after'), containerPath: path.join(box, 'app/after.txt') }], delete: [] }, [target()], signal());
    expect(readFileSync(path.join(box, 'app/after.txt'), 'utf8')).toBe('after');
    expect(launcher.launches).toBe(2);
    await syncer.close();
  });

  it('passes ClusterUnreachableError through untouched when the channel breaks and cannot be reopened (no failure, no rebuild fallback)', async () => {
    const real = localLauncher();
    let unreachable = false;
    const launcher: AgentLauncher = async (t, command, handlers) => {
      if (unreachable) throw new ClusterUnreachableError('cannot reach the cluster at https://127.0.0.1:6443 (context t): ECONNREFUSED', { code: 'ECONNREFUSED' });
      return real(t, command, handlers);
    };
    const sink = new CollectingSink();
    const syncer = createSyncer({ kubeConfig: undefined as never }, sink, { launch: launcher });
    const op = (name: string) => ({ image: 'blog/posts', copy: [{ localPath: writeWork(name, name), containerPath: path.join(box, 'app', name) }], delete: [] });
    await syncer.sync(op('one.txt'), [target()], signal());
    real.kill(); // the API server went away: the exec stream closes
    unreachable = true;
    await new Promise((r) => setTimeout(r, 100));
    const error = await syncer.sync(op('two.txt'), [target()], signal()).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterUnreachableError);
    expect(error).not.toBeInstanceOf(SyncUnusableError);
    expect(sink.ofType('sync').filter((e) => e.status === 'failed')).toEqual([]);
    // the cluster is back: the same syncer opens a new channel
    unreachable = false;
    await syncer.sync(op('three.txt'), [target()], signal());
    expect(readFileSync(path.join(box, 'app/three.txt'), 'utf8')).toBe('three.txt');
    await syncer.close();
  });

  it('skips a container whose pod is gone (404 on reopening): its replacement gets the ledger replayed', async () => {
    const launcher: AgentLauncher = async () => {
      throw new KubeApiError(404, 'POST', '/api/v1/namespaces/ns/pods/p1/exec', { message: 'the pod or container ns/p1/c does not exist (any more)' });
    };
    const sink = new CollectingSink();
    const syncer = createSyncer({ kubeConfig: undefined as never }, sink, { launch: launcher });
    await syncer.sync({ image: 'blog/posts', copy: [{ localPath: writeWork('x.txt', 'x'), containerPath: path.join(box, 'x.txt') }], delete: [] }, [target()], signal());
    expect(sink.ofType('sync').filter((e) => e.status === 'failed')).toEqual([]);
    expect(sink.ofType('message').some((m) => m.level === 'debug' && m.text.includes('is gone'))).toBe(true);
    await syncer.close();
  });

  it('syncs into several containers in parallel', async () => {
    const launcher = localLauncher();
    const sink = new CollectingSink();
    const syncer = createSyncer({ kubeConfig: undefined as never }, sink, { launch: launcher });
    const local = writeWork('x.txt', 'x');
    await syncer.sync({ image: 'blog/posts', copy: [{ localPath: local, containerPath: 'x.txt' }], delete: [] }, [
      { ...target('a'), workdir: path.join(box, 'a') },
      { ...target('b'), workdir: path.join(box, 'b') },
    ], signal());
    expect(readFileSync(path.join(box, 'a/x.txt'), 'utf8')).toBe('x');
    expect(readFileSync(path.join(box, 'b/x.txt'), 'utf8')).toBe('x');
    expect(sink.ofType('sync').map((e) => e.pod).sort()).toEqual(['a', 'b']);
    await syncer.close();
  });

  it('replays the ledger into a restarted container, reading the working tree at replay time', async () => {
    const launcher = localLauncher();
    const sink = new CollectingSink();
    const syncer = createSyncer({ kubeConfig: undefined as never }, sink, { launch: launcher });
    const a = writeWork('public/a.html', 'a1');
    const b = writeWork('public/b.html', 'b1');
    const fresh = path.join(box, 'fresh');
    const t = (pod: string) => ({ ...target(pod), workdir: pod === 'old' ? path.join(box, 'old') : fresh });
    await syncer.sync({ image: 'blog/posts', copy: [{ localPath: a, containerPath: 'public/a.html' }, { localPath: b, containerPath: 'public/b.html' }], delete: [] }, [t('old')], signal());
    await syncer.sync({ image: 'blog/posts', copy: [], delete: ['public/b.html'] }, [t('old')], signal());
    writeFileSync(a, 'a2'); // edited since; the replay must carry the current content
    // A "new container" from the image: it still has b.html from the image, not a.html.
    mkdirSync(path.join(fresh, 'public'), { recursive: true });
    writeFileSync(path.join(fresh, 'public/b.html'), 'from image');

    await syncer.replay(t('new'), signal());
    expect(readFileSync(path.join(fresh, 'public/a.html'), 'utf8')).toBe('a2');
    expect(existsSync(path.join(fresh, 'public/b.html'))).toBe(false);
    expect(sink.ofType('sync').at(-1)).toMatchObject({ status: 'replayed', pod: 'new' });

    syncer.resetImage('blog/posts');
    rmSync(path.join(fresh, 'public/a.html'));
    await syncer.replay(t('new'), signal());
    expect(existsSync(path.join(fresh, 'public/a.html'))).toBe(false);
    await syncer.close();
  });

  it('reports a container without tar as unusable, with a rebuild fallback in the message', async () => {
    // dash, not busybox sh: busybox sh runs its own tar applet even when tar is not on PATH.
    const launcher = localLauncher({ tools: ['sh', 'head', 'rm', 'cat'], sh: '/bin/dash' });
    const sink = new CollectingSink();
    const syncer = createSyncer({ kubeConfig: undefined as never }, sink, { launch: launcher });
    const error = await syncer
      .sync({ image: 'blog/posts', copy: [{ localPath: writeWork('a', 'a'), containerPath: '/x/a' }], delete: [] }, [target()], signal())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncUnusableError);
    expect((error as SyncUnusableError).reason).toBe('no-tar');
    expect((error as Error).message).toMatch(/has no tar.*rebuilding blog\/posts instead/);
    expect(sink.ofType('sync')[0]).toMatchObject({ status: 'failed' });
    await syncer.close();
  });

  it('reports a container without sh as unusable (exec fails with executable not found)', async () => {
    const noSh: AgentLauncher = async () => ({
      write: () => undefined,
      close: () => undefined,
      exited: Promise.resolve({ message: 'failed to exec in container: exec: "sh": executable file not found in $PATH' }),
    });
    const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: noSh });
    const error = await syncer
      .sync({ image: 'blog/posts', copy: [{ localPath: writeWork('a', 'a'), containerPath: '/x/a' }], delete: [] }, [target()], signal())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncUnusableError);
    expect((error as SyncUnusableError).reason).toBe('no-sh');
    expect((error as Error).message).toBe(
      'cannot sync into ns/p1/c (blog/posts): the image has no sh (exec: "sh": executable file not found in $PATH); rebuilding blog/posts instead',
    );
  });

  it('reports a write failure with tar\'s own words, and the channel stays usable', async () => {
    const launcher = localLauncher();
    const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: launcher });
    writeFileSync(path.join(box, 'notadir'), 'file');
    const error = await syncer
      .sync({ image: 'blog/posts', copy: [{ localPath: writeWork('a', 'a'), containerPath: path.join(box, 'notadir/a') }], delete: [] }, [target()], signal())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(SyncUnusableError);
    expect((error as Error).message).toMatch(/sync into ns\/p1\/c \(blog\/posts\) failed: tar: .*notadir/);
    await syncer.sync({ image: 'blog/posts', copy: [{ localPath: writeWork('b', 'b'), containerPath: path.join(box, 'ok/b') }], delete: [] }, [target()], signal());
    expect(readFileSync(path.join(box, 'ok/b'), 'utf8')).toBe('b');
    expect(launcher.launches).toBe(1);
    await syncer.close();
  });

  it('syncs a burst into a directory whose name holds a newline: one archive, not checked in place', async () => {
    const headers: string[] = [];
    const inner = localLauncher();
    const recording: AgentLauncher = async (t, command, handlers) => {
      const stream = await inner(t, command, handlers);
      return { ...stream, write: (data) => (headers.push(Buffer.from(data).toString('latin1').split('\n')[0]), stream.write(data)) };
    };
    const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: recording });
    const copy = Array.from({ length: 100 }, (_, i) => ({ localPath: writeWork(`nl/f${i}.txt`, `n ${i}`), containerPath: path.join(box, 'two\nlines', `f${i}.txt`) }));
    await syncer.sync({ image: 'blog/posts', copy, delete: [] }, [target()], signal());
    expect(headers).toEqual([expect.stringMatching(/^B 1 \d+ 0 -1 1( z)?$/)]);
    for (let i = 0; i < 100; i++) expect(readFileSync(path.join(box, 'two\nlines', `f${i}.txt`), 'utf8')).toBe(`n ${i}`);
    await syncer.close();
  });

  it('rejects a path with a newline with a clear message', async () => {
    const syncer = createSyncer({ kubeConfig: undefined as never }, new CollectingSink(), { launch: localLauncher() });
    const error = await syncer.sync({ image: 'blog/posts', copy: [], delete: ['/app/bad\nname'] }, [target()], signal()).catch((e: unknown) => e);
    expect((error as Error).message).toContain('cannot sync a path containing a newline');
    await syncer.close();
  });
});
