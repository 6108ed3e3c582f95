import { describe, expect, it } from 'vitest';
import { readProjectName } from './down.js';

describe('reading metadata.name from a config that does not parse', () => {
  it('finds it in block and flow style, and not elsewhere', () => {
    expect(readProjectName('apiVersion: devloop/v1\nmetadata:\n  # the project\n  name: blog-x\nbuild: [broken\n')).toBe('blog-x');
    expect(readProjectName('metadata: { name: "shop" }\n: : :')).toBe('shop');
    expect(readProjectName('build:\n  name: nope\n')).toBeUndefined();
  });
});
