import { mkdirSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../config/load.js';
import { CollectingSink } from '../events.js';
import { createIgnoredPredicate, describeLargeTree, NEW_DIR_RECHECKS_MS, startWatcher, watchRoots, type FileChange, type Watcher, type WatcherOptions } from './index.js';
import { matchingIgnoreGlob } from './ignore.js';
import { loadContextFilters } from '../build/live-filter.js';

let dir: string;
let watcher: Watcher | undefined;
let controller: AbortController;

function write(rel: string, content = 'x'): string {
  const p = path.join(dir, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  return p;
}

function config(extra = '', debounceMs = 30): Config {
  const text = `
apiVersion: devloop/v1
kind: Config
metadata: { name: w }
build:
  artifacts:
    - image: w/api
      context: services/api
      sync: { manual: [{ src: "public/**", dest: /app/public }] }
    - image: w/web
      context: web
deploy:
  kubectl: { manifests: ["k8s/*.yaml"] }
watch:
  debounceMs: ${debounceMs}
  ignore: ["services/api/generated", "**/*.tmp"]
${extra}`;
  const file = write('devloop.config.yaml', text);
  return parseConfig(text, file);
}

/** startWatcher with the .dockerignore filters the dev loop gives it (src/build's live filters). */
function watchTree(c: Config, options: Omit<WatcherOptions, 'contextFilters'>): Promise<Watcher> {
  return startWatcher(c, { ...options, contextFilters: loadContextFilters(c) });
}

function tree(): void {
  write('services/api/Dockerfile', 'FROM scratch');
  write('services/api/.dockerignore', 'node_modules\n*.log\n');
  write('services/api/public/index.html', 'hi');
  write('services/api/node_modules/a/index.js');
  write('services/api/generated/out.txt');
  write('services/api/.git/HEAD');
  write('web/Dockerfile', 'FROM scratch');
  write('web/src/app.js');
  write('k8s/app.yaml', 'kind: Pod');
  write('docs/readme.md');
}

/** Collects batches; `next()` resolves with the next batch (bounded wait). */
function batches() {
  const received: FileChange[][] = [];
  const waiters: Array<(b: FileChange[]) => void> = [];
  return {
    received,
    onBatch(b: FileChange[]) {
      const w = waiters.shift();
      if (w) w(b);
      else received.push(b);
    },
    next(timeoutMs = 3000): Promise<FileChange[]> {
      const queued = received.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no batch within timeout')), timeoutMs);
        waiters.push((b) => {
          clearTimeout(timer);
          resolve(b);
        });
      });
    },
  };
}

const rel = (changes: FileChange[]) => changes.map((c) => `${c.kind} ${path.relative(dir, c.path)}`).sort();

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-watch-'));
  controller = new AbortController();
  tree();
});
afterEach(async () => {
  controller.abort();
  await watcher?.close();
  watcher = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('watchRoots', () => {
  it('watches contexts, manifest directories and the config file, no root inside another', () => {
    const c = config();
    expect(watchRoots(c).map((r) => path.relative(dir, r)).sort()).toEqual(['devloop.config.yaml', 'k8s', 'services/api', 'web']);
  });

  it('watches the Skaffold configs a skaffold.yaml requires, and never prunes them', () => {
    const required = path.join(dir, 'libs/base/skaffold.yaml');
    const c = { ...config(), source: { format: 'skaffold' as const, apiVersion: 'skaffold/v4beta14', ignored: [], files: [required] } };
    expect(watchRoots(c).map((r) => path.relative(dir, r)).sort()).toEqual(['devloop.config.yaml', 'k8s', 'libs/base/skaffold.yaml', 'services/api', 'web']);
    expect(createIgnoredPredicate(c, loadContextFilters(c))(required)).toBe(false);
  });
});

describe('createIgnoredPredicate', () => {
  it('prunes .git, dockerignored trees and watch.ignore, never manifests or the config', async () => {
    const c = config();
    const ignored = createIgnoredPredicate(c, loadContextFilters(c));
    const dirStats = { isDirectory: () => true } as never;
    const fileStats = { isDirectory: () => false } as never;
    expect(ignored(path.join(dir, 'services/api/node_modules'), dirStats)).toBe(true);
    expect(ignored(path.join(dir, 'services/api/.git'), dirStats)).toBe(true);
    expect(ignored(path.join(dir, 'services/api/debug.log'), fileStats)).toBe(true);
    expect(ignored(path.join(dir, 'services/api/generated'), dirStats)).toBe(true);
    expect(ignored(path.join(dir, 'web/a.tmp'), fileStats)).toBe(true);
    expect(ignored(path.join(dir, 'services/api/public'), dirStats)).toBe(false);
    expect(ignored(path.join(dir, 'k8s/app.yaml'), fileStats)).toBe(false);
    expect(ignored(c.file)).toBe(false);
  });

  it("prunes devloop's state directory beside the config, even inside a context", () => {
    const c = config();
    const inContext = { ...c, build: { ...c.build, artifacts: [...c.build.artifacts, { ...c.build.artifacts[0], image: 'root', contextDir: dir }] } };
    const ignored = createIgnoredPredicate(inContext, new Map());
    expect(ignored(path.join(dir, '.devloop'), { isDirectory: () => true } as never)).toBe(true);
    expect(ignored(path.join(dir, '.devloop/cache/file-hashes.json'))).toBe(true);
    expect(ignored(path.join(dir, '.devloopish'))).toBe(false);
    expect(ignored(path.join(dir, 'services/api/.devloop'), { isDirectory: () => true } as never)).toBe(false);
  });
});

describe('createIgnoredPredicate outside contexts', () => {
  it('with a manifest glob at the root, watches only the way to contexts and manifests', async () => {
    write('node_modules/big/index.js');
    write('deploy/app.yaml');
    write('notes.txt');
    const c = parseConfig(
      `apiVersion: devloop/v1
kind: Config
metadata: { name: w }
build:
  artifacts:
    - { image: w/api, context: services/api }
deploy:
  kubectl: { manifests: ["*.yaml", "deploy/*.yaml"] }
`,
      path.join(dir, 'devloop.config.yaml'),
    );
    expect(watchRoots(c).map((r) => path.relative(dir, r))).toEqual(['']);
    const ignored = createIgnoredPredicate(c, loadContextFilters(c));
    const dirStats = { isDirectory: () => true } as never;
    const fileStats = { isDirectory: () => false } as never;
    expect(ignored(dir, dirStats)).toBe(false);
    expect(ignored(path.join(dir, 'node_modules'), dirStats)).toBe(true);
    expect(ignored(path.join(dir, 'docs'), dirStats)).toBe(true);
    expect(ignored(path.join(dir, 'notes.txt'), fileStats)).toBe(true);
    expect(ignored(path.join(dir, 'services'), dirStats)).toBe(false);
    expect(ignored(path.join(dir, 'services/api'), dirStats)).toBe(false);
    expect(ignored(path.join(dir, 'services/other'), dirStats)).toBe(true);
    expect(ignored(path.join(dir, 'deploy'), dirStats)).toBe(false);
    expect(ignored(path.join(dir, 'deploy/app.yaml'), fileStats)).toBe(false);
    expect(ignored(path.join(dir, 'root.yaml'), fileStats)).toBe(false);
  });
});

describe('startWatcher', () => {
  it('reports ready with the files watched, pruned trees excluded', async () => {
    const sink = new CollectingSink();
    const b = batches();
    watcher = await watchTree(config(), { signal: controller.signal, sink, onBatch: b.onBatch });
    // api: Dockerfile, .dockerignore, public/index.html; web: Dockerfile, src/app.js; k8s/app.yaml; config
    expect(watcher.fileCount).toBe(7);
    expect(sink.ofType('watch')).toEqual([expect.objectContaining({ status: 'ready', fileCount: 7 })]);
  });

  // dev starts the watcher while it builds: a file written after that start and found by the
  // initial scan is reported once the watcher is ready; the tree as it was is not.
  it('with changedSince, reports what the initial scan finds newer, once ready', async () => {
    const b = batches();
    const old = new Date(Date.now() - 60_000);
    for (const rel of ['services/api/public/index.html', 'web/src/app.js', 'web/Dockerfile', 'services/api/Dockerfile', 'services/api/.dockerignore', 'k8s/app.yaml']) utimesSync(path.join(dir, rel), old, old);
    const c = config();
    utimesSync(c.file, old, old);
    const changedSince = Date.now();
    write('web/src/edited-during-start-up.js', 'new');
    write('services/api/node_modules/b/index.js', 'pruned, never reported');
    const sink = new CollectingSink();
    watcher = await watchTree(c, { signal: controller.signal, sink, onBatch: b.onBatch, changedSince });
    expect(sink.ofType('watch')).toEqual([expect.objectContaining({ status: 'ready', fileCount: 8 })]);
    expect(rel(await b.next())).toEqual(['add web/src/edited-during-start-up.js']);
    await new Promise((r) => setTimeout(r, 150));
    expect(b.received).toEqual([]);
  });

  // A new directory is listed again after it appears (chokidar can miss files written between its
  // listing and its watch); what chokidar did report is not reported a second time.
  it('reports every file of a burst into a new directory, each once, also after the new-directory checks', async () => {
    const b = batches();
    watcher = await watchTree(config(), { signal: controller.signal, sink: new CollectingSink(), onBatch: b.onBatch });
    const fresh = path.join(dir, 'services/api/public/fresh');
    mkdirSync(path.join(fresh, 'nested'), { recursive: true });
    for (let i = 0; i < 300; i++) writeFileSync(path.join(fresh, `f${i}.txt`), String(i));
    writeFileSync(path.join(fresh, 'nested', 'deep.txt'), 'deep');
    await new Promise((r) => setTimeout(r, NEW_DIR_RECHECKS_MS.at(-1)! + 300));
    const adds = b.received.flat().filter((c) => c.kind === 'add').map((c) => path.relative(fresh, c.path));
    expect(adds.filter((a) => a.startsWith('f')).sort()).toEqual(Array.from({ length: 300 }, (_, i) => `f${i}.txt`).sort());
    expect(adds.filter((a) => a === path.join('nested', 'deep.txt'))).toHaveLength(1);
    expect(adds).toHaveLength(301);
  });

  // The race itself: another process fills a new directory while this one's event loop is busy, so
  // chokidar's listing of the directory and the start of its watch fall apart. Without the
  // new-directory checks, a stress run of this pattern lost files in 21 of 37 rounds, and this test
  // failed in 1 of 2 runs (round 3: 770 of 1,000 reported); with them it has not lost one.
  it('loses no file written into a new directory by another process while the event loop is busy', async () => {
    const seen = new Set<string>();
    watcher = await watchTree(config(), { signal: controller.signal, sink: new CollectingSink(), onBatch: (changes) => changes.forEach((c) => seen.add(c.path)) });
    let busy = true;
    const spin = () => {
      if (!busy) return;
      const until = Date.now() + 5;
      while (Date.now() < until);
      setImmediate(spin);
    };
    spin();
    try {
      for (let round = 0; round < 6; round++) {
        const fresh = path.join(dir, 'services/api/public', `burst-${round}`);
        const script = `const fs=require('fs');fs.mkdirSync(process.argv[1]);for(let i=0;i<1000;i++)fs.writeFileSync(process.argv[1]+'/f'+i+'.txt','x'+i)`;
        await new Promise((resolve) => spawn(process.execPath, ['-e', script, fresh]).on('close', resolve));
        await new Promise((r) => setTimeout(r, NEW_DIR_RECHECKS_MS.at(-1)! + 500));
        const reported = Array.from({ length: 1000 }, (_, i) => path.join(fresh, `f${i}.txt`)).filter((f) => seen.has(f)).length;
        expect(reported, `round ${round}`).toBe(1000);
      }
    } finally {
      busy = false;
    }
  }, 40_000);

  it('acts on a burst at its leading edge, then on the rest as one batch after the quiet window', async () => {
    const b = batches();
    watcher = await watchTree(config(), { signal: controller.signal, sink: new CollectingSink(), onBatch: b.onBatch });
    for (let i = 0; i < 50; i++) write(`services/api/public/p${i}.html`, String(i));
    const seen: FileChange[] = [];
    let count = 0;
    while (seen.length < 50) {
      seen.push(...(await b.next()));
      count++;
    }
    expect(count).toBeLessThanOrEqual(2);
    expect(new Set(seen.map((c) => c.path)).size).toBe(50);
    expect(seen.every((c) => c.kind === 'add')).toBe(true);
    // A later write comes through alone: nothing of the burst was left for a second batch.
    write('web/src/sentinel.js');
    expect((await b.next()).map((c) => path.relative(dir, c.path))).toEqual(['web/src/sentinel.js']);
    expect(b.received).toHaveLength(0);
  });

  it('flushes a batch within MAX_BATCH_WAIT_MS under a constant stream of events', async () => {
    const b = batches();
    // A 400 ms quiet window that a write every 15 ms never leaves: only the cap can flush.
    watcher = await watchTree(config('', 400), { signal: controller.signal, sink: new CollectingSink(), onBatch: b.onBatch });
    const started = Date.now();
    let i = 0;
    const timer = setInterval(() => write(`web/src/stream${i++}.js`), 15);
    try {
      // the first write is a leading edge; the stream after it is cut at the cap
      await b.next(2500);
      expect(Date.now() - started).toBeLessThan(400);
      await b.next(2500);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      clearInterval(timer);
    }
  });

  it('reports a save that follows another within 50 ms (chokidar drops that change event)', async () => {
    const b = batches();
    watcher = await watchTree(config(), { signal: controller.signal, sink: new CollectingSink(), onBatch: b.onBatch });
    const file = path.join(dir, 'web/src/app.js');
    writeFileSync(file, 'first save');
    await b.next();
    // The batch above came 30 ms after the first event: this save lands inside chokidar's 50 ms
    // throttle, so only the trailing check reports it.
    writeFileSync(file, 'second save, longer');
    const batch = await b.next(1000);
    expect(rel(batch)).toEqual(['change web/src/app.js']);
  });

  it('turns an atomic save (write temp, rename over) into one change of the real file', async () => {
    const b = batches();
    watcher = await watchTree(config(), { signal: controller.signal, sink: new CollectingSink(), onBatch: b.onBatch });
    const target = path.join(dir, 'services/api/public/index.html');
    const temp = path.join(dir, 'services/api/public/.index.html.12345.tmp-save');
    writeFileSync(temp, 'new content');
    renameSync(temp, target);
    const batch = await b.next();
    expect(rel(batch)).toEqual(['change services/api/public/index.html']);
  });

  it('acts on an edit after a quiet period without waiting for the quiet window', async () => {
    const b = batches();
    watcher = await watchTree(config('', 2000), { signal: controller.signal, sink: new CollectingSink(), onBatch: b.onBatch });
    const started = Date.now();
    write('services/api/public/index.html', 'leading');
    const batch = await b.next(1500);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(rel(batch)).toEqual(['change services/api/public/index.html']);
  });

  it('turns an atomic save after a quiet period into one leading-edge change, not waiting for the window', async () => {
    const b = batches();
    watcher = await watchTree(config('', 2000), { signal: controller.signal, sink: new CollectingSink(), onBatch: b.onBatch });
    const target = path.join(dir, 'services/api/public/index.html');
    const temp = path.join(dir, 'services/api/public/index.html.tmp-save');
    const started = Date.now();
    writeFileSync(temp, 'atomic');
    renameSync(temp, target);
    const batch = await b.next(1500);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(rel(batch)).toEqual(['change services/api/public/index.html']);
    // nothing of the temp file follows (its add was dropped, so is its unlink): a marker written
    // now arrives in the next batch, which would carry the temp file's events too
    write('web/src/marker.js', 'after the save');
    expect(rel(await b.next(5000))).toEqual(['add web/src/marker.js']);
    expect(b.received).toEqual([]);
  });

  it('polls for changes with trigger polling', async () => {
    const sink = new CollectingSink();
    const b = batches();
    watcher = await watchTree(config('  trigger: polling\n  pollIntervalMs: 100'), { signal: controller.signal, sink, onBatch: b.onBatch });
    expect(sink.ofType('watch')[0]).toMatchObject({ status: 'ready', trigger: 'polling', message: expect.stringContaining('polling every 100 ms') });
    // written at once: fs.watchFile may take its baseline stat after ready (the watcher reads every
    // file once more for that; without it this failed 1 in about 6 runs under load)
    write('web/src/app.js', 'polled');
    expect(rel(await b.next(3000))).toEqual(['change web/src/app.js']);
  });

  it('says what polling a large tree costs', async () => {
    const sink = new CollectingSink();
    for (let i = 0; i < 30; i++) write(`web/src/many/f${i}.js`);
    watcher = await watchTree(config('  trigger: polling'), { signal: controller.signal, sink, onBatch: () => undefined, largePolledTreeFiles: 20 });
    expect(sink.ofType('watch').find((e) => e.status === 'large-tree')?.message).toMatch(/^polling 3\d files every 500 ms keeps a core busy; raise --watch-poll-interval/);
  });

  it('watches only the named artifacts\' contexts (and manifests and the config), and names the others', async () => {
    const sink = new CollectingSink();
    const b = batches();
    const c = config();
    watcher = await watchTree(c, { signal: controller.signal, sink, onBatch: b.onBatch, watchedImages: new Set(['w/web']) });
    expect(watchRoots(c, new Set(['w/web'])).map((r) => path.relative(dir, r)).sort()).toEqual(['devloop.config.yaml', 'k8s', 'web']);
    // web: Dockerfile, src/app.js; k8s/app.yaml; config
    expect(sink.ofType('watch')[0]).toMatchObject({ status: 'ready', fileCount: 4, unwatched: ['w/api'] });
    write('services/api/public/index.html', 'not watched');
    write('web/src/app.js', 'watched');
    const seen: FileChange[] = [];
    while (!seen.some((ch) => ch.path.endsWith('app.js'))) seen.push(...(await b.next()));
    expect(rel(seen)).toEqual(['change web/src/app.js']);
  });

  it('turns a vim-style save (rename away, write new, delete backup) into one change', async () => {
    const b = batches();
    watcher = await watchTree(config(), { signal: controller.signal, sink: new CollectingSink(), onBatch: b.onBatch });
    const target = path.join(dir, 'web/src/app.js');
    renameSync(target, `${target}~`);
    writeFileSync(target, 'v2');
    rmSync(`${target}~`);
    const batch = await b.next();
    expect(rel(batch)).toEqual(['change web/src/app.js']);
  });

  it('never reports changes inside pruned trees', async () => {
    const b = batches();
    watcher = await watchTree(config(), { signal: controller.signal, sink: new CollectingSink(), onBatch: b.onBatch });
    write('services/api/node_modules/b/index.js');
    write('services/api/generated/more.txt');
    write('services/api/x.log');
    write('web/a.tmp');
    write('web/src/real.js');
    const batch = await b.next();
    expect(rel(batch)).toEqual(['add web/src/real.js']);
  });

  it('reports deletions, manifests and the config file', async () => {
    const b = batches();
    const c = config();
    watcher = await watchTree(c, { signal: controller.signal, sink: new CollectingSink(), onBatch: b.onBatch });
    rmSync(path.join(dir, 'web/src/app.js'));
    writeFileSync(path.join(dir, 'k8s/app.yaml'), 'kind: Service');
    writeFileSync(c.file, `${'#'}\n${'x: 1'}`);
    const collected: FileChange[] = [];
    while (collected.length < 3) collected.push(...(await b.next()));
    expect(rel(collected)).toEqual(['change devloop.config.yaml', 'change k8s/app.yaml', 'unlink web/src/app.js']);
  });

  it('follows edits of a .dockerignore: a directory it stops excluding is watched from then on', async () => {
    write('services/api/gen/a.txt', 'generated');
    const b = batches();
    watcher = await watchTree(config(), { signal: controller.signal, sink: new CollectingSink(), onBatch: b.onBatch });
    write('services/api/.dockerignore', 'node_modules\n*.log\n');
    await b.next(); // the edit itself, with gen/ not excluded before either
    write('services/api/.dockerignore', 'node_modules\n*.log\ngen\n');
    await b.next();
    write('services/api/gen/b.txt', 'pruned now');
    write('web/src/marker.js');
    expect(rel(await b.next())).toEqual(['add web/src/marker.js']);
    // Dropping the line re-includes gen/: chokidar is told to watch it, its files are reported.
    write('services/api/.dockerignore', 'node_modules\n*.log\n');
    const collected: FileChange[] = [];
    const until = Date.now() + 3000;
    while (!collected.some((c) => c.path.endsWith('gen/b.txt')) && Date.now() < until) collected.push(...(await b.next()));
    expect(rel(collected)).toContain('add services/api/gen/b.txt');
  });

  it('announces a large tree with its biggest subtrees and the watch.ignore line to add', async () => {
    for (let s = 0; s < 3; s++) for (let i = 0; i < 40; i++) write(`web/pkgs/p${s}/vendor/d${i}/f.js`);
    const sink = new CollectingSink();
    watcher = await watchTree(config(), { signal: controller.signal, sink, onBatch: () => undefined, largeTreeFiles: 100 });
    const warning = sink.ofType('watch').find((e) => e.status === 'large-tree');
    expect(warning?.fileCount).toBe(127);
    expect(warning?.message).toContain('3 vendor directories (120 files, e.g. web/pkgs/p');
    expect(warning?.message).toContain('watch: { ignore: ["**/vendor"] }');
  });

  it('closes on abort', async () => {
    const b = batches();
    const c = config(); // written once: a rewrite of the config file would be a change for the first watcher
    watcher = await watchTree(c, { signal: controller.signal, sink: new CollectingSink(), onBatch: b.onBatch });
    // A second watcher on the same tree, still open, shows when a batch would have been delivered.
    const witnessController = new AbortController();
    const witness = batches();
    const witnessWatcher = await watchTree(c, { signal: witnessController.signal, sink: new CollectingSink(), onBatch: witness.onBatch });
    try {
      controller.abort();
      await watcher.close();
      write('web/src/after-close.js');
      expect((await witness.next()).map((c) => path.relative(dir, c.path))).toEqual(['web/src/after-close.js']);
      // One more round trip through the witness: the closed watcher has had as long to report.
      write('web/src/after-close-2.js');
      expect((await witness.next()).map((c) => path.relative(dir, c.path))).toEqual(['web/src/after-close-2.js']);
      expect(b.received).toEqual([]);
    } finally {
      witnessController.abort();
      await witnessWatcher.close();
    }
  });
});

describe('describeLargeTree', () => {
  it('names the directory where the files are, not its wrappers, and one glob for repeated names', () => {
    const root = '/r';
    const counts = new Map([
      ['/r', 30010],
      ['/r/services', 30000],
      ['/r/services/a', 15000],
      ['/r/services/a/node_modules', 14990],
      ['/r/services/b', 15000],
      ['/r/services/b/node_modules', 14990],
    ]);
    // Many small packages: no heavy child, so node_modules is where the files are.
    for (let i = 0; i < 100; i++) counts.set(`/r/services/a/node_modules/p${i}`, 149);
    const { subtrees, ignoreLine } = describeLargeTree(counts, root, 2000);
    expect(subtrees.map((s) => s.dir)).toEqual(['services/a/node_modules', 'services/b/node_modules']);
    expect(ignoreLine).toBe('"**/node_modules"');
  });
});

describe('matchingIgnoreGlob', () => {
  it('matches the path or any directory above it', () => {
    expect(matchingIgnoreGlob('a/node_modules/x/y.js', ['**/node_modules'])).toBe('**/node_modules');
    expect(matchingIgnoreGlob('a/src/y.js', ['**/node_modules'])).toBeUndefined();
    expect(matchingIgnoreGlob('docs/x.md', ['docs'])).toBe('docs');
  });
});
