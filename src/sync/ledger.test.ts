import { describe, expect, it } from 'vitest';
import { SyncLedger } from './ledger.js';

describe('SyncLedger', () => {
  it('keeps the latest operation per container path, in the order paths were last touched', () => {
    const ledger = new SyncLedger();
    ledger.record({ image: 'i', copy: [{ localPath: '/w/a', containerPath: '/app/a' }, { localPath: '/w/b', containerPath: '/app/b' }], delete: [] });
    ledger.record({ image: 'i', copy: [], delete: ['/app/a'] });
    ledger.record({ image: 'i', copy: [{ localPath: '/w/c', containerPath: '/app/c' }], delete: [] });
    expect(ledger.replayOp('i')).toEqual({ image: 'i', copy: [{ localPath: '/w/b', containerPath: '/app/b' }, { localPath: '/w/c', containerPath: '/app/c' }], delete: ['/app/a'] });
  });

  it('a directory delete supersedes what was recorded below it; a later copy below it survives', () => {
    const ledger = new SyncLedger();
    ledger.record({ image: 'i', copy: [{ localPath: '/w/d/x', containerPath: '/app/d/x' }, { localPath: '/w/dx', containerPath: '/app/dx' }], delete: [] });
    ledger.record({ image: 'i', copy: [], delete: ['/app/d'] });
    ledger.record({ image: 'i', copy: [{ localPath: '/w/d/y', containerPath: '/app/d/y' }], delete: [] });
    expect(ledger.replayOp('i')).toEqual({ image: 'i', copy: [{ localPath: '/w/dx', containerPath: '/app/dx' }, { localPath: '/w/d/y', containerPath: '/app/d/y' }], delete: ['/app/d'] });
  });

  it('is per image and forgets an image on reset', () => {
    const ledger = new SyncLedger();
    ledger.record({ image: 'i', copy: [{ localPath: '/w/a', containerPath: '/app/a' }], delete: [] });
    ledger.record({ image: 'j', copy: [{ localPath: '/w/b', containerPath: '/app/b' }], delete: [] });
    ledger.reset('i');
    expect(ledger.replayOp('i')).toBeUndefined();
    expect(ledger.size('j')).toBe(1);
  });
});
