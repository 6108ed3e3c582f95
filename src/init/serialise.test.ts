import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../config/load.js';
import { configToDocument, renderYaml, withoutDefaults } from './serialise.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function loaded(text: string, files: string[]): Config {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-serialise-'));
  dirs.push(dir);
  for (const f of files) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), 'FROM scratch\n');
  }
  return parseConfig(text, path.join(dir, 'devloop.config.yaml'));
}

const CONFIG = `apiVersion: devloop/v1
kind: Config
metadata: { name: shop }
build:
  tagPolicy: gitCommit
  concurrency: 2
  artifacts:
    - image: shop/api
      context: services/api
      dockerfile: docker/Dockerfile
      buildArgs: {}
deploy:
  namespace: shop
  kubectl: { manifests: ["k8s/*.yaml"] }
  helm:
    releases:
      - name: shop
        chart: charts/shop
        valuesFiles: [charts/shop/dev.yaml]
watch:
  debounceMs: 50
`;

describe('writing a loaded config back', () => {
  it('leaves out what the schema fills in identically, keeps what differs from it', () => {
    const config = loaded(CONFIG, ['services/api/docker/Dockerfile']);
    const document = configToDocument(config);
    expect(document).toEqual({
      apiVersion: 'devloop/v1',
      kind: 'Config',
      metadata: { name: 'shop' },
      build: { tagPolicy: 'gitCommit', artifacts: [{ image: 'shop/api', context: 'services/api', dockerfile: 'docker/Dockerfile' }] },
      deploy: {
        namespace: 'shop',
        kubectl: { manifests: ['k8s/*.yaml'] },
        helm: { releases: [{ name: 'shop', chart: 'charts/shop', valuesFiles: ['charts/shop/dev.yaml'] }] },
      },
    });
    const again = parseConfig(renderYaml(document, [], []), config.file);
    expect({ ...again, source: undefined }).toEqual({ ...config, source: undefined });
  });

  it('writes paths a reader made absolute relative to the config directory', () => {
    const config = loaded(CONFIG, ['services/api/docker/Dockerfile']);
    const absolute: Config = {
      ...config,
      deploy: {
        ...config.deploy,
        kubectl: { manifests: [path.join(config.rootDir, 'k8s/*.yaml')] },
        helm: { releases: config.deploy.helm.releases.map((r) => ({ ...r, chart: path.join(config.rootDir, r.chart), valuesFiles: r.valuesFiles.map((v) => path.join(config.rootDir, v)) })) },
      },
    };
    expect(configToDocument(absolute).deploy).toEqual(configToDocument(config).deploy);
  });

  it('keeps every value with keepDefaults (for profiles, where a left-out key inherits the base)', () => {
    const document = configToDocument(loaded(CONFIG, ['services/api/docker/Dockerfile']), { keepDefaults: true });
    expect(document.build).toMatchObject({ concurrency: 2, push: 'auto' });
    expect(document.watch).toEqual({ ignore: [], debounceMs: 50, trigger: 'notify', pollIntervalMs: 500 });
  });

  it('puts each note above its key or list item, and a note whose key was left out in the header', () => {
    const text = renderYaml(
      withoutDefaults({ apiVersion: 'devloop/v1', kind: 'Config', metadata: { name: 'x' }, build: { concurrency: 2, artifacts: [{ image: 'x/y' }] } }),
      ['Header line.'],
      [
        { path: ['build', 'artifacts', 0], text: 'first artifact' },
        { path: ['build', 'concurrency'], text: 'from somewhere' },
      ],
      ['Footer line.'],
    );
    expect(text).toBe(
      [
        '# Header line.',
        "# build.concurrency (left out: devloop's default is the same): from somewhere",
        '',
        'apiVersion: devloop/v1',
        'kind: Config',
        'metadata:',
        '  name: x',
        'build:',
        '  artifacts:',
        '    # first artifact',
        '    - image: x/y',
        '',
        '# Footer line.',
        '',
      ].join('\n'),
    );
  });
});
