import { describe, expect, it } from 'vitest';
import { redactExecUrls } from '../kube/exec.js';
import { classifyWriteError } from './agent.js';
import { resolveContainerPath } from './index.js';

describe('classifyWriteError', () => {
  it('recognises read-only filesystems and permission errors in tar and rm output', () => {
    expect(classifyWriteError("tar: can't remove old file app/public/ro.txt: Read-only file system")).toBe('read-only');
    expect(classifyWriteError("tar: can't open 'app/public/denied.txt': Permission denied")).toBe('permission');
    expect(classifyWriteError("rm: can't remove '/app/x': Operation not permitted")).toBe('permission');
    expect(classifyWriteError("tar: can't open 'x/a': Not a directory")).toBeUndefined();
  });
});

describe('redactExecUrls', () => {
  it('drops the command query of exec URLs quoted by the API server', () => {
    const message = 'error sending request: Post "https://192.0.2.2:10250/exec/ns/pod/c?command=sh&command=-c&command=for+t+in+tar&error=1&input=1": dial tcp 192.0.2.2:10250: connect: connection refused';
    expect(redactExecUrls(message)).toBe('error sending request: Post "https://192.0.2.2:10250/exec/ns/pod/c?...": dial tcp 192.0.2.2:10250: connect: connection refused');
    expect(redactExecUrls('no url here')).toBe('no url here');
  });
});

describe('resolveContainerPath', () => {
  it('resolves relative destinations against the workdir and keeps absolute ones', () => {
    expect(resolveContainerPath('static/a.css', '/app')).toBe('/app/static/a.css');
    expect(resolveContainerPath('/srv/a.css', '/app')).toBe('/srv/a.css');
    expect(resolveContainerPath('a b/ü.txt', '')).toBe('/a b/ü.txt');
  });
});
