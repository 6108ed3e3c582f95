// Regenerates the `docker` lists of dockerignore-cases.json from the real Docker engine:
// for each case, builds `FROM scratch` + `COPY . /ctx/` with the classic builder (what the Docker
// CLI sends, after .dockerignore), exports a container of it and lists the files under /ctx.
// Run: node src/build/testdata/generate-dockerignore-expectations.mjs   (needs docker; ~1 s/case)
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const file = path.join(here, 'dockerignore-cases.json');
const data = JSON.parse(readFileSync(file, 'utf8'));
const docker = (args, opts = {}) => execFileSync('docker', args, { encoding: 'utf8', env: { ...process.env, DOCKER_BUILDKIT: '0' }, ...opts });

export function writeTree(dir, tree) {
  for (const [rel, spec] of Object.entries(tree)) {
    const abs = path.join(dir, rel);
    if (rel.endsWith('/')) { mkdirSync(abs, { recursive: true }); continue; }
    mkdirSync(path.dirname(abs), { recursive: true });
    if (spec.link) symlinkSync(spec.link, abs);
    else { writeFileSync(abs, spec.content ?? rel); if (spec.mode) chmodSync(abs, parseInt(spec.mode, 8)); }
  }
}

data.dockerVersion = docker(['version', '--format', '{{.Server.Version}}']).trim();
for (const c of data.cases) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockerignore-case-'));
  try {
    writeTree(dir, data.tree);
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /ctx/\n');
    writeFileSync(path.join(dir, '.dockerignore'), c.dockerignore);
    const tag = `devloop-dockerignore-case:${process.pid}`;
    docker(['build', '-q', '-t', tag, dir]);
    const id = docker(['create', tag, 'none']).trim();
    const listing = execFileSync('sh', ['-c', `docker export ${id} | tar -t`], { encoding: 'utf8' });
    docker(['rm', id]);
    docker(['rmi', tag]);
    c.docker = listing.split('\n').filter((l) => l.startsWith('ctx/') && l !== 'ctx/').map((l) => l.slice(4)).sort();
    console.log(c.name, c.docker.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
writeFileSync(file, `${JSON.stringify(data, null, 1)}\n`);
