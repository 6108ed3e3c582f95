/**
 * Runs once before the integration and end-to-end suites: compiles devloop (the suites drive
 * bin/devloop, which loads dist/) and assembles the fixtures' base root filesystems. It does not
 * start Docker or the cluster: `npm test` does that through test/setup.sh, and each suite fails
 * (never skips) when what it needs is not there.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  execFileSync('bash', ['fixtures/prepare.sh'], { cwd: root, stdio: 'inherit' });
}
