import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { buildOrder, dependentsOf, findRequiresCycle, resolveArtifactNames, withRequirements } from './artifact-graph.js';

const a = (image: string, ...requires: string[]) => ({ image, requires: requires.map((r) => ({ image: r, alias: 'BASE' })) });
// Listed out of order on purpose: client before base.
const artifacts = [a('blog/client', 'blog/base'), a('blog/base'), a('blog/posts', 'blog/base'), a('blog/tools'), a('blog/admin', 'blog/posts', 'blog/tools')];
const config = { build: { artifacts } };

describe('requires graph', () => {
  it('orders every artifact after what it requires, keeping config order otherwise', () => {
    expect(buildOrder(artifacts).map((x) => x.image)).toEqual(['blog/base', 'blog/client', 'blog/posts', 'blog/tools', 'blog/admin']);
  });

  it('dependentsOf gives the images and everything requiring them, transitively, in config order', () => {
    expect(dependentsOf(config, ['blog/base'])).toEqual(['blog/client', 'blog/base', 'blog/posts', 'blog/admin']);
    expect(dependentsOf(config, ['blog/tools'])).toEqual(['blog/tools', 'blog/admin']);
    expect(dependentsOf(config, ['blog/admin'])).toEqual(['blog/admin']);
    expect(dependentsOf(config, [])).toEqual([]);
  });

  it('withRequirements adds what the named images need', () => {
    expect(withRequirements(artifacts, ['blog/admin']).map((x) => x.image)).toEqual(['blog/base', 'blog/posts', 'blog/tools', 'blog/admin']);
    expect(withRequirements(artifacts, ['blog/tools']).map((x) => x.image)).toEqual(['blog/tools']);
  });

  it('rejects an unknown image with a did-you-mean', () => {
    expect(() => withRequirements(artifacts, ['blog/post'])).toThrow(UsageError);
    expect(() => withRequirements(artifacts, ['blog/post'])).toThrow(
      expect.objectContaining({ message: '"blog/post" is not an artifact of this config', hint: expect.stringMatching(/^Did you mean blog\/posts\?/) }),
    );
  });
});

describe('findRequiresCycle', () => {
  it('names the images of a cycle, ending where it started', () => {
    expect(findRequiresCycle([{ image: 'a', requires: [{ image: 'b', alias: 'B' }] }, { image: 'b', requires: [] }])).toBeUndefined();
    expect(findRequiresCycle([{ image: 'a', requires: [{ image: 'b', alias: 'B' }] }, { image: 'b', requires: [{ image: 'a', alias: 'A' }] }])).toEqual(['a', 'b', 'a']);
  });

  it('resolveArtifactNames takes images or their last path segment, in config order, once each', () => {
    expect(resolveArtifactNames(artifacts, ['posts', 'blog/client', 'blog/posts'])).toEqual(['blog/client', 'blog/posts']);
    expect(resolveArtifactNames(artifacts, [])).toEqual([]);
  });

  it('resolveArtifactNames rejects an unknown name, listing the valid ones', () => {
    let error: unknown;
    try {
      resolveArtifactNames(artifacts, ['post']);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe('"post" is not an artifact of this config');
    expect((error as UsageError).hint).toContain('Did you mean posts?');
    expect((error as UsageError).hint).toContain('posts (blog/posts)');
    expect((error as UsageError).hint).toContain('admin (blog/admin)');
  });

  it('resolveArtifactNames rejects a segment several images end with', () => {
    const twins = [a('web/api'), a('admin/api'), a('api2')];
    expect(() => resolveArtifactNames(twins, ['api'])).toThrow('"api" names several artifacts: web/api, admin/api');
    expect(resolveArtifactNames(twins, ['admin/api', 'api2'])).toEqual(['admin/api', 'api2']);
  });
});
