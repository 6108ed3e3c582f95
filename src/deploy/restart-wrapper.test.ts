import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import type { KubeObject } from '../kube/types.js';
import { isSupervised } from '../sync/restart.js';
import { wrapForRestart } from './restart-wrapper.js';

const source = { file: '/p/k8s/app.yaml', document: 2, line: 7 };

function deployment(container: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'app', namespace: 'hooks' },
    spec: { template: { spec: { containers: [container, { name: 'sidecar', image: 'busybox', command: ['sleep', '1d'] }] } } },
  };
}

const containersOf = (o: KubeObject) => (o.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } }).template.spec.containers;

describe('wrapForRestart', () => {
  it('puts the command and args of an artifact\'s container under the supervisor, and nothing else', () => {
    const original = deployment({ name: 'app', image: 'hooks/app', command: ['/app/bin/server'], args: ['--port', '8080'] });
    const wrapped = wrapForRestart(original, new Set(['hooks/app']), source);
    const [app, sidecar] = containersOf(wrapped);
    expect(isSupervised(app.command as string[])).toBe(true);
    expect((app.command as string[]).slice(-3)).toEqual(['/app/bin/server', '--port', '8080']);
    expect(app.args).toBeUndefined();
    expect(sidecar.command).toEqual(['sleep', '1d']);
    // the argument is left alone, and wrapping twice changes nothing
    expect(containersOf(original)[0].command).toEqual(['/app/bin/server']);
    expect(wrapForRestart(wrapped, new Set(['hooks/app']), source)).toEqual(wrapped);
  });

  it('leaves objects alone when no artifact restarts', () => {
    const original = deployment({ name: 'app', image: 'hooks/app' });
    expect(wrapForRestart(original, new Set(), source)).toBe(original);
  });

  it('without a command in the manifest, runs what Kubernetes would: the image ENTRYPOINT with the args, or else its CMD', () => {
    const fromImage = new Map([['hooks/app', { entrypoint: ['/app/bin/server'], cmd: ['--port', '80'] }]]);
    const withCmd = containersOf(wrapForRestart(deployment({ name: 'app', image: 'hooks/app' }), new Set(['hooks/app']), source, fromImage))[0];
    expect((withCmd.command as string[]).slice(4)).toEqual(['/app/bin/server', '--port', '80']);
    const withArgs = containersOf(wrapForRestart(deployment({ name: 'app', image: 'hooks/app', args: ['--debug'] }), new Set(['hooks/app']), source, fromImage))[0];
    expect((withArgs.command as string[]).slice(4)).toEqual(['/app/bin/server', '--debug']);
    expect(withArgs.args).toBeUndefined();
  });

  it('leaves a container whose command is unknown as written when only rendering (devloop render, before the first build)', () => {
    const original = deployment({ name: 'app', image: 'hooks/app' });
    expect(containersOf(wrapForRestart(original, new Set(['hooks/app']), source, new Map(), false))[0].command).toBeUndefined();
  });

  it('refuses a container whose command is unknown, naming the manifest and the fix', () => {
    try {
      wrapForRestart(deployment({ name: 'app', image: 'hooks/app' }), new Set(['hooks/app']), source);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).details[0]).toMatch(/\/p\/k8s\/app\.yaml:7:1: .*sync\.restart of hooks\/app needs the container's command: the manifest names none and the image's ENTRYPOINT and CMD are unknown.*add command: \["\/path\/to\/your\/program"\]/);
    }
  });
});
