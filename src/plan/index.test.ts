import { describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../config/load.js';
import type { FileChange } from '../watch/index.js';
import { netChanges } from '../watch/changes.js';
import { containerPathFor, planChanges, type ContextFilterLike, type PlanState } from './index.js';

const root = '/repo';

function config(extra = '', edit: (text: string) => string = (t) => t): Config {
  const text = `
apiVersion: devloop/v1
kind: Config
metadata: { name: blog }
build:
  artifacts:
    - image: blog/base
      context: base
    - image: blog/posts
      context: services/posts
      requires: [{ image: blog/base, alias: BASE }]
      sync:
        manual:
          - { src: "public/**", dest: /app/public, strip: "public/" }
          - { src: "public2/**", dest: static }
    - image: blog/query
      context: services/query
      requires: [{ image: blog/base, alias: BASE }]
    - image: blog/client
      context: client
      requires: [{ image: blog/posts, alias: POSTS }]
      sync:
        manual:
          - { src: "src/**/*.js", dest: /app/public, strip: "src/" }
          - { src: "src/**", dest: /app/all }
deploy:
  kubectl:
    manifests: ["infra/k8s/*.yaml"]
  kustomize:
    paths: [infra/kustomize]
  helm:
    releases: [{ name: web, chart: charts/web, valuesFiles: [values/dev.yaml] }]
watch:
  ignore: ["**/tmp", "docs/**"]
${extra}`;
  return parseConfig(edit(text), `${root}/devloop.config.yaml`, { skipFileChecks: true });
}

function state(partial: Partial<PlanState> = {}): PlanState {
  return { manifestFiles: new Set(), syncDisabled: new Set(), ...partial };
}

const change = (p: string, kind: FileChange['kind'] = 'change'): FileChange => ({ path: `${root}/${p}`, kind });

/** A .dockerignore-like filter excluding the given top-level names (and everything below). */
function excluding(...names: string[]): ContextFilterLike {
  return {
    isExcluded: (rel) => names.includes(rel),
    excludedBy: (rel) => (names.includes(rel) ? rel : undefined),
  };
}

describe('planChanges', () => {
  it('syncs a file matching a sync rule, with strip applied, and explains the rule', () => {
    const plan = planChanges([change('services/posts/public/index.html')], config(), state());
    expect(plan.syncs).toEqual([{ image: 'blog/posts', copy: [{ localPath: `${root}/services/posts/public/index.html`, containerPath: '/app/public/index.html' }], delete: [] }]);
    expect(plan.rebuild).toEqual([]);
    expect(plan.redeploy).toBe(false);
    expect(plan.reloadConfig).toBe(false);
    expect(plan.decisions).toEqual([
      { type: 'change', path: `${root}/services/posts/public/index.html`, artifact: 'blog/posts', action: 'sync', reason: 'matched sync rule 1 "public/**" -> /app/public/index.html' },
    ]);
  });

  it('neither syncs nor rebuilds an artifact that is not watched (devloop dev IMAGE...)', () => {
    const unwatched = new Set(['blog/query', 'blog/client']);
    const plan = planChanges(
      [change('services/query/index.js'), change('client/src/app.js'), change('services/posts/public/a.html')],
      config(),
      state({ unwatched }),
    );
    expect(plan.rebuild).toEqual([]);
    expect(plan.syncs.map((s) => s.image)).toEqual(['blog/posts']);
    expect(plan.decisions.filter((d) => d.action === 'ignore').map((d) => [d.artifact, d.reason])).toEqual([
      ['blog/query', 'blog/query is not watched (devloop dev was given other artifacts)'],
      ['blog/client', 'blog/client is not watched (devloop dev was given other artifacts)'],
    ]);
  });

  it('deletes in the container on unlink', () => {
    const plan = planChanges([change('services/posts/public/old.css', 'unlink')], config(), state());
    expect(plan.syncs).toEqual([{ image: 'blog/posts', copy: [], delete: ['/app/public/old.css'], deletedLocal: ['/repo/services/posts/public/old.css'] }]);
    expect(plan.decisions[0].reason).toBe('matched sync rule 1 "public/**" -> delete /app/public/old.css');
  });

  it('deletes a whole directory on unlinkDir matching a rule', () => {
    const plan = planChanges([change('services/posts/public/img', 'unlinkDir')], config(), state());
    expect(plan.syncs[0].delete).toEqual(['/app/public/img']);
  });

  it('ignores a removed directory no sync rule matches (its files come as their own unlinks)', () => {
    const plan = planChanges([change('client/lib/old/a.js', 'unlink'), change('client/lib/old', 'unlinkDir'), change('client/src/gone', 'unlinkDir')], config(), state());
    // lib/old/a.js itself matches no rule: it rebuilds; the directory event adds nothing.
    expect(plan.rebuild).toEqual(['blog/client']);
    expect(plan.decisions[1]).toMatchObject({ action: 'ignore', reason: 'directory lib/old removed: its files are planned one by one' });
    // A directory a rule matches is deleted whole (rule 2 "src/**").
    expect(plan.decisions[2]).toMatchObject({ action: 'sync', reason: 'matched sync rule 2 "src/**" -> delete /app/all/src/gone (dropped: blog/client is rebuilt in this batch)' });
  });

  it('keeps a relative dest relative (the Syncer resolves it against WORKDIR)', () => {
    const plan = planChanges([change('services/posts/public2/a/b.txt')], config(), state());
    expect(plan.syncs[0].copy[0].containerPath).toBe('static/public2/a/b.txt');
  });

  it('uses the first matching rule', () => {
    const plan = planChanges([change('client/src/app.js'), change('client/src/index.css')], config(), state());
    expect(plan.syncs[0].copy).toEqual([
      { localPath: `${root}/client/src/app.js`, containerPath: '/app/public/app.js' },
      { localPath: `${root}/client/src/index.css`, containerPath: '/app/all/src/index.css' },
    ]);
    expect(plan.decisions.map((d) => d.reason)).toEqual([
      'matched sync rule 1 "src/**/*.js" -> /app/public/app.js (also matches rule 2 "src/**": the first match wins)',
      'matched sync rule 2 "src/**" -> /app/all/src/index.css',
    ]);
  });

  it('copies a file for every rule it matches with sync.everyMatch (Skaffold), and says so', () => {
    const base = config();
    const client = base.build.artifacts.find((a) => a.image === 'blog/client')!;
    const everyMatch: Config = {
      ...base,
      build: { ...base.build, artifacts: base.build.artifacts.map((a) => (a === client ? { ...a, sync: { manual: a.sync!.manual, everyMatch: true } } : a)) },
    };
    const plan = planChanges([change('client/src/app.js')], everyMatch, state());
    expect(plan.syncs[0].copy).toEqual([
      { localPath: `${root}/client/src/app.js`, containerPath: '/app/public/app.js' },
      { localPath: `${root}/client/src/app.js`, containerPath: '/app/all/src/app.js' },
    ]);
    expect(plan.decisions[0].reason).toBe(
      'matched sync rules 1 "src/**/*.js" and 2 "src/**" -> /app/public/app.js, /app/all/src/app.js (a file matching several rules is copied for each, as Skaffold does: sync.everyMatch)',
    );
  });

  it('matches dotfiles (dot: true)', () => {
    const plan = planChanges([change('services/posts/public/.well-known/x')], config(), state());
    expect(plan.syncs[0].copy[0].containerPath).toBe('/app/public/.well-known/x');
  });

  it('rebuilds an image and its dependents, in build order, when no sync rule matches', () => {
    const plan = planChanges([change('services/posts/package.json')], config(), state());
    expect(plan.rebuild).toEqual(['blog/posts', 'blog/client']);
    expect(plan.syncs).toEqual([]);
    expect(plan.decisions[0]).toMatchObject({ action: 'rebuild', artifact: 'blog/posts', reason: 'no sync rule matches package.json: rebuild blog/posts (+ dependents: blog/client)' });
  });

  it('rebuilds the base image and every dependent in build order', () => {
    const plan = planChanges([change('base/Dockerfile')], config(), state());
    expect(plan.rebuild).toEqual(['blog/base', 'blog/posts', 'blog/query', 'blog/client']);
    expect(plan.decisions[0].reason).toBe('no sync rule matches Dockerfile: rebuild blog/base (+ dependents: blog/posts, blog/query, blog/client)');
  });

  it('drops the syncs of an image rebuilt in the same batch, and says so', () => {
    const plan = planChanges([change('services/posts/public/a.html'), change('services/posts/start.sh')], config(), state());
    expect(plan.syncs).toEqual([]);
    expect(plan.rebuild).toEqual(['blog/posts', 'blog/client']);
    expect(plan.decisions[0].reason).toContain('(dropped: blog/posts is rebuilt in this batch)');
  });

  it('drops syncs of a dependent rebuilt because its requirement changed', () => {
    const plan = planChanges([change('client/src/app.js'), change('services/posts/start.sh')], config(), state());
    expect(plan.syncs).toEqual([]);
    expect(plan.rebuild).toEqual(['blog/posts', 'blog/client']);
  });

  it('keeps syncs of images not rebuilt', () => {
    const plan = planChanges([change('client/src/app.js'), change('services/query/main.sh')], config(), state());
    expect(plan.syncs.map((s) => s.image)).toEqual(['blog/client']);
    expect(plan.rebuild).toEqual(['blog/query']);
  });

  it('rebuilds instead of syncing when sync is disabled for the image', () => {
    const plan = planChanges([change('services/posts/public/a.html')], config(), state({ syncDisabled: new Set(['blog/posts']) }));
    expect(plan.syncs).toEqual([]);
    expect(plan.rebuild).toEqual(['blog/posts', 'blog/client']);
    expect(plan.decisions[0].reason).toBe('matched sync rule 1 "public/**" but sync is unusable for blog/posts: rebuild blog/posts (+ dependents: blog/client)');
  });

  it('ignores dockerignored files and names the pattern', () => {
    const filters = new Map([['blog/posts', excluding('node_modules', 'debug.log')]]);
    const plan = planChanges([change('services/posts/node_modules/x/index.js'), change('services/posts/debug.log')], config(), state({ contextFilters: filters }));
    expect(plan.rebuild).toEqual([]);
    expect(plan.syncs).toEqual([]);
    expect(plan.decisions.map((d) => [d.action, d.reason])).toEqual([
      ['ignore', 'node_modules/x/index.js is excluded by the .dockerignore of blog/posts pattern "node_modules"'],
      ['ignore', 'debug.log is excluded by the .dockerignore of blog/posts pattern "debug.log"'],
    ]);
  });

  it('asks the .dockerignore about each directory of a burst once, and decides every file as one by one', () => {
    const asked: string[] = [];
    const filter: ContextFilterLike = {
      isExcluded: (rel, isDir) => {
        asked.push(`${rel}${isDir ? '/' : ''}`);
        return rel === 'public/cache' || rel.endsWith('.log');
      },
      excludedBy: (rel) => (rel === 'public/cache' ? 'public/cache' : '*.log'),
    };
    const files = [
      ...Array.from({ length: 50 }, (_, i) => `services/posts/public/burst/f${i}.html`),
      'services/posts/public/cache/a.html',
      'services/posts/public/cache/deeper/b.html',
      'services/posts/public/burst/x.log',
    ];
    const plan = planChanges(files.map((f) => change(f)), config(), state({ contextFilters: new Map([['blog/posts', filter]]) }));
    expect(plan.syncs[0].copy).toHaveLength(50);
    expect(plan.decisions.slice(50).map((d) => [d.action, d.reason])).toEqual([
      ['ignore', 'public/cache/a.html is excluded by the .dockerignore of blog/posts pattern "public/cache"'],
      ['ignore', 'public/cache/deeper/b.html is excluded by the .dockerignore of blog/posts pattern "public/cache"'],
      ['ignore', 'public/burst/x.log is excluded by the .dockerignore of blog/posts pattern "*.log"'],
    ]);
    // each directory once (public/cache/deeper is never asked: public/cache excludes it), each file once
    const dirs = asked.filter((a) => a.endsWith('/'));
    expect(dirs.sort()).toEqual(['public/', 'public/burst/', 'public/cache/']);
    expect(asked.filter((a) => !a.endsWith('/'))).toHaveLength(51);
  });

  it('decides with the matchers it is given, reading nothing: a .dockerignore in the batch is not re-read here', () => {
    const filter: ContextFilterLike & { refresh(): never } = {
      isExcluded: (rel) => rel.split('/')[0] === 'node_modules',
      excludedBy: (rel) => (rel.split('/')[0] === 'node_modules' ? 'node_modules' : undefined),
      refresh: () => {
        throw new Error('the planner must not re-read a filter (build/live-filter.ts filtersForPlan does, before planning)');
      },
    };
    const plan = planChanges([change('services/posts/.dockerignore'), change('services/posts/dist/app.js')], config(), state({ contextFilters: new Map([['blog/posts', filter]]) }));
    expect(plan.decisions.map((d) => d.action)).toEqual(['rebuild', 'rebuild']);
  });

  it('ignores dockerignored files even when a sync rule matches them', () => {
    const filters = new Map([['blog/posts', excluding('public')]]);
    const plan = planChanges([change('services/posts/public/a.html')], config(), state({ contextFilters: filters }));
    expect(plan.syncs).toEqual([]);
    expect(plan.decisions[0].action).toBe('ignore');
  });

  it('reloads the config when the config file changes', () => {
    const plan = planChanges([change('devloop.config.yaml')], config(), state());
    expect(plan.reloadConfig).toBe(true);
    expect(plan.decisions).toEqual([expect.objectContaining({ action: 'reload-config' })]);
  });

  it('redeploys for manifests matching the globs, rendered manifests, kustomize and helm paths', () => {
    const rendered = `${root}/elsewhere/extra.yaml`;
    const plan = planChanges(
      [change('infra/k8s/posts.yaml'), { path: rendered, kind: 'change' }, change('infra/kustomize/sub/patch.yaml'), change('charts/web/templates/d.yaml'), change('values/dev.yaml')],
      config(),
      state({ manifestFiles: new Set([rendered]) }),
    );
    expect(plan.redeploy).toBe(true);
    expect(plan.rebuild).toEqual([]);
    expect(plan.decisions.map((d) => d.action)).toEqual(['redeploy', 'redeploy', 'redeploy', 'redeploy', 'redeploy']);
    expect(plan.decisions[0].reason).toContain('matches deploy.kubectl.manifests "infra/k8s/*.yaml"');
    expect(plan.decisions[1].reason).toContain('is a rendered manifest');
    expect(plan.decisions[2].reason).toContain('kustomize path "infra/kustomize"');
    expect(plan.decisions[3].reason).toContain('helm release "web"');
    expect(plan.decisions[4].reason).toContain('values file of helm release "web"');
  });

  it('ignores files outside every context, watch.ignore matches and .git', () => {
    const plan = planChanges([change('README.md'), change('services/posts/tmp/x'), change('docs/a.md'), change('.git/HEAD')], config(), state());
    expect(plan).toMatchObject({ reloadConfig: false, syncs: [], rebuild: [], redeploy: false });
    expect(plan.decisions.map((d) => d.reason)).toEqual([
      'README.md is not in any artifact context, manifest or the config file',
      'services/posts/tmp/x matches watch.ignore "**/tmp"',
      'docs/a.md matches watch.ignore "docs/**"',
      '.git/HEAD is inside .git',
    ]);
  });

  it('ignores added directories (their files come as their own changes)', () => {
    const plan = planChanges([change('services/posts/public/new', 'addDir')], config(), state());
    expect(plan.syncs).toEqual([]);
    expect(plan.rebuild).toEqual([]);
    expect(plan.decisions[0].action).toBe('ignore');
  });

  it('plans the net change per path: created then removed in one batch is nothing', () => {
    const plan = planChanges(
      [change('services/posts/public/.a.html.swp', 'add'), change('services/posts/public/.a.html.swp', 'unlink'), change('services/posts/public/a.html', 'change')],
      config(),
      state(),
    );
    expect(plan.syncs[0].copy.map((c) => c.containerPath)).toEqual(['/app/public/a.html']);
    expect(plan.decisions).toHaveLength(1);
  });

  it('a copy then a delete of one path ends as a delete', () => {
    const plan = planChanges([change('services/posts/public/a.html', 'change'), change('services/posts/public/a.html', 'unlink')], config(), state());
    expect(plan.syncs[0]).toEqual({ image: 'blog/posts', copy: [], delete: ['/app/public/a.html'], deletedLocal: ['/repo/services/posts/public/a.html'] });
  });

  describe('nested contexts', () => {
    function nested(): Config {
      const text = `
apiVersion: devloop/v1
kind: Config
metadata: { name: mono }
build:
  artifacts:
    - image: mono/base
      context: .
    - image: mono/web
      context: web
      requires: [{ image: mono/base, alias: BASE }]
      sync: { manual: [{ src: "static/**", dest: /srv }] }
    - image: mono/api
      context: api
`;
      return parseConfig(text, `${root}/devloop.config.yaml`, { skipFileChecks: true });
    }

    it('syncs in the most specific context and rebuilds every enclosing context that does not dockerignore the file', () => {
      const plan = planChanges([change('web/static/a.css')], nested(), state());
      // The enclosing base context includes web/, so base (and thus web, its dependent) rebuild.
      expect(plan.rebuild).toEqual(['mono/base', 'mono/web']);
      expect(plan.syncs).toEqual([]);
      expect(plan.decisions.map((d) => [d.artifact, d.action])).toEqual([
        ['mono/web', 'sync'],
        ['mono/base', 'rebuild'],
      ]);
      expect(plan.decisions[1].reason).toBe('web/static/a.css is in the build context of mono/base (.) and not dockerignored there: rebuild mono/base (+ dependents: mono/web)');
    });

    it('only syncs when the enclosing context dockerignores the inner one', () => {
      const filters = new Map([['mono/base', excluding('web', 'api')]]);
      const plan = planChanges([change('web/static/a.css')], nested(), state({ contextFilters: filters }));
      expect(plan.rebuild).toEqual([]);
      expect(plan.syncs).toEqual([{ image: 'mono/web', copy: [{ localPath: `${root}/web/static/a.css`, containerPath: '/srv/static/a.css' }], delete: [] }]);
      expect(plan.decisions.map((d) => [d.artifact, d.action])).toEqual([
        ['mono/web', 'sync'],
        ['mono/base', 'ignore'],
      ]);
    });

    it('a change in the config file inside a context reloads and rebuilds that context', () => {
      const plan = planChanges([change('devloop.config.yaml')], nested(), state());
      expect(plan.reloadConfig).toBe(true);
      expect(plan.rebuild).toEqual(['mono/base', 'mono/web']);
    });
  });

  it('is pure: the same inputs give the same plan and the inputs are not mutated', () => {
    const c = config();
    const changes = [change('services/posts/public/a.html'), change('services/query/x')];
    const frozen = JSON.stringify(changes);
    expect(planChanges(changes, c, state())).toEqual(planChanges(changes, c, state()));
    expect(JSON.stringify(changes)).toBe(frozen);
  });
});

describe('containerPathFor', () => {
  it('strips only a matching prefix', () => {
    expect(containerPathFor({ dest: '/app', strip: 'src/' }, 'src/a/b.js')).toBe('/app/a/b.js');
    expect(containerPathFor({ dest: '/app', strip: 'src/' }, 'lib/a.js')).toBe('/app/lib/a.js');
    expect(containerPathFor({ dest: 'rel' }, 'x y/ü.txt')).toBe('rel/x y/ü.txt');
  });
});

describe('netChanges', () => {
  it('folds editor save patterns into one change of the real file', () => {
    const p = '/r/a.txt';
    // vim: rename original to backup, write new file, delete backup
    expect(
      netChanges([
        { path: p, kind: 'unlink' },
        { path: `${p}~`, kind: 'add' },
        { path: p, kind: 'add' },
        { path: `${p}~`, kind: 'unlink' },
      ]),
    ).toEqual([{ path: p, kind: 'change' }]);
    // write temp + rename over
    expect(
      netChanges([
        { path: '/r/.a.txt.tmp', kind: 'add' },
        { path: '/r/.a.txt.tmp', kind: 'change' },
        { path: '/r/.a.txt.tmp', kind: 'unlink' },
        { path: p, kind: 'change' },
      ]),
    ).toEqual([{ path: p, kind: 'change' }]);
    expect(netChanges([{ path: p, kind: 'add' }, { path: p, kind: 'change' }])).toEqual([{ path: p, kind: 'add' }]);
    expect(netChanges([{ path: p, kind: 'change' }, { path: p, kind: 'unlink' }])).toEqual([{ path: p, kind: 'unlink' }]);
  });

  describe('sync hooks and restart', () => {
    const hooked = (): Config =>
      config('', (text) => text.replace(
        '          - { src: "public2/**", dest: static }\n',
        `          - { src: "public2/**", dest: static }
          - { src: "package.json", dest: /app }
        hooks:
          before:
            - host: { command: ["true"] }
          after:
            - container: { command: ["npm", "install"] }
              trigger: ["package.json"]
            - container: { command: ["sh", "-c", "echo reload"], where: one }
        restart: { trigger: ["public/bin/*"] }
`,
      ));

    it('names the hooks a batch triggers, by trigger glob; no trigger runs on every sync', () => {
      const plan = planChanges([change('services/posts/public/index.html', 'change')], hooked(), state());
      expect(plan.syncs[0]).toMatchObject({ image: 'blog/posts', hooks: { before: [0], after: [1] } });
      expect(plan.syncs[0].restart).toBeUndefined();
      const pkg = planChanges([change('services/posts/package.json', 'change')], hooked(), state());
      expect(pkg.syncs[0].hooks).toEqual({ before: [0], after: [0, 1] });
      expect(pkg.decisions[0].reason).toContain('runs sync/after #1 in each container (trigger "package.json")');
      expect(pkg.decisions[0].reason).toContain('runs sync/after #2 in one container (no trigger: every sync)');
    });

    it('restarts the main process only for a file matching the restart trigger, and says so', () => {
      const plan = planChanges([change('services/posts/public/bin/server', 'change')], hooked(), state());
      expect(plan.syncs[0].restart).toBe(true);
      expect(plan.decisions[0].reason).toContain('then restarts the main process of each container, files in place (sync.restart, trigger "public/bin/*")');
    });
  });
});
