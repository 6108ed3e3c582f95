#!/usr/bin/env node
// Soak of `devloop dev --output json`: does the loop's memory, file descriptors or listening sockets
// grow over a long session of one edit per second?
//
// On a private copy of fixtures/blog (its own project name, namespace and local ports):
//   - every second, an edit of services/posts/public/soak.html (a sync rule: synced into the pods);
//   - every SOAK_REBUILD_SECONDS (60), an edit of services/posts/VERSION (outside every sync rule:
//     posts is rebuilt and redeployed);
//   - every SOAK_SAMPLE_SECONDS (10), of the devloop process: RSS (VmRSS of /proc/PID/status), open
//     file descriptors (entries of /proc/PID/fd) and listening TCP sockets it owns (LISTEN rows of
//     /proc/net/tcp and tcp6 whose inode is one of its fds' socket:[inode] links).
// Growth is measured after the warm-up (SOAK_WARMUP_SECONDS): the median of the samples of the first
// minute after warm-up against the median of the last three samples. More than 10% is flagged as
// FAIL in the output (and the exit status is 1).
//
// --api-down (or SOAK_MODE=api-down): the API server is "down" for SOAK_DOWN_SECONDS (600) in the
// middle of the run. What is simulated, exactly: devloop gets a copy of the kubeconfig whose server
// is a TCP relay this benchmark runs in-process on 127.0.0.1, forwarding byte for byte (TLS passes
// through untouched) to the real API server. "Down" = the relay closes its listener (new connections
// get ECONNREFUSED) and resets every open connection (RST: watches, exec sync channels, port-forward
// streams see ECONNRESET). "Up" = it listens again on the same port. The real API server is never
// touched (it is shared by other test runs), so this is an unreachable API server, not a restarted
// one: no watch resource versions expire and nothing in the cluster changes meanwhile. The report
// counts, per phase, builds started (a rebuild every minute is expected from the VERSION edits; more
// means failed syncs fell back to rebuilds), syncs acknowledged and failed, and RSS growth during the
// down window (the target: < 10 MB over 10 minutes down).
//
// Usage: node bench/soak.mjs [--api-down] [--seconds N] [--down-seconds N] [--down-at N]
//        [--warmup N] [--sample-every N] [--rebuild-every N]
// or the same through SOAK_MODE, SOAK_SECONDS (1800), SOAK_DOWN_SECONDS (600), SOAK_DOWN_AT_SECONDS
// (middle of the run), SOAK_WARMUP_SECONDS (180, at most a sixth of the run), SOAK_SAMPLE_SECONDS
// (10), SOAK_REBUILD_SECONDS (60). A short trial: SOAK_SECONDS=180 SOAK_DOWN_SECONDS=60.
// Needs dist/ built, the fixtures prepared (fixtures/prepare.sh), Docker and the test cluster (uses
// the Docker engine and the cluster: run it under the e2e lock). Results: bench/results/soak-*.{txt,json}.
// Every loop is bounded by the configured duration and every wait by a timeout; on exit (also on
// SIGINT) devloop gets SIGINT (its teardown), then the benchmark checks nothing of it is left.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KUBECONFIG = process.env.KUBECONFIG ?? '/var/lib/devloop-cluster/kubeconfig';
const KUBECTL = process.env.DEVLOOP_KUBECTL ?? path.join(os.homedir(), '.cache/devloop-cluster/v1.34.4/bin/kubectl');

const flag = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
function setting(name, envName, fallback) {
  const raw = flag(name) ?? process.env[envName];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} / ${envName} must be a number of seconds, got ${JSON.stringify(raw)}`);
  return value;
}
const MODE = process.argv.includes('--api-down') || process.env.SOAK_MODE === 'api-down' ? 'api-down' : 'steady';
const SECONDS = setting('seconds', 'SOAK_SECONDS', 1800);
const WARMUP = setting('warmup', 'SOAK_WARMUP_SECONDS', Math.min(180, Math.round(SECONDS / 6)));
const SAMPLE_EVERY = Math.max(1, setting('sample-every', 'SOAK_SAMPLE_SECONDS', 10));
const REBUILD_EVERY = Math.max(1, setting('rebuild-every', 'SOAK_REBUILD_SECONDS', 60));
const DOWN_SECONDS = MODE === 'api-down' ? setting('down-seconds', 'SOAK_DOWN_SECONDS', 600) : 0;
const DOWN_AT = MODE === 'api-down' ? setting('down-at', 'SOAK_DOWN_AT_SECONDS', Math.max(WARMUP, Math.round((SECONDS - DOWN_SECONDS) / 2))) : Infinity;
if (MODE === 'api-down' && DOWN_AT + DOWN_SECONDS > SECONDS) throw new Error(`the down window (${DOWN_AT}s + ${DOWN_SECONDS}s) must end before the run does (${SECONDS}s)`);
const GROWTH_LIMIT = 0.1;
const DOWN_RSS_LIMIT_MB = 10;
const STARTUP_TIMEOUT_MS = 300_000;
const TEARDOWN_TIMEOUT_MS = 180_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const kubectl = (args, timeout = 60_000) =>
  execFileSync(KUBECTL, ['--kubeconfig', KUBECONFIG, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout });

// ---- the relay that plays the API server going away (--api-down) -------------------------------
/** A TCP relay on 127.0.0.1 to `target`; down() refuses and resets, up() listens again on the same port. */
class FlakyRelay {
  constructor(target) {
    this.target = target;
    this.server = undefined;
    this.port = 0;
    this.open = new Set();
    this.accepted = 0;
    this.resets = 0;
  }
  async up() {
    const server = net.createServer((client) => {
      this.accepted++;
      const upstream = net.connect(this.target.port, this.target.host);
      const pair = { client, upstream };
      this.open.add(pair);
      const drop = () => {
        this.open.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = server.address().port;
    this.server = server;
  }
  down() {
    this.server?.close();
    this.server = undefined;
    for (const pair of this.open) {
      this.resets++;
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
    }
    this.open.clear();
  }
}

/** The API server's address and whether its certificate is valid for 127.0.0.1 (else the relay needs tls-server-name). */
async function apiServerCertificate(server, caPem) {
  const url = new URL(server);
  const cert = await new Promise((resolve, reject) => {
    const socket = tls.connect({ host: url.hostname, port: Number(url.port || 443), ca: caPem, servername: net.isIP(url.hostname) ? undefined : url.hostname, checkServerIdentity: () => undefined });
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no TLS handshake with ${server} within 10 s`)));
    socket.once('secureConnect', () => {
      const c = socket.getPeerX509Certificate();
      socket.end();
      resolve(c);
    });
    socket.once('error', reject);
  });
  return { host: url.hostname, port: Number(url.port || 443), validFor127: cert.checkIP('127.0.0.1') !== undefined, cert };
}

/** A copy of the kubeconfig whose current cluster points at the relay; TLS still verifies the real server. */
async function relayKubeconfig(dir, relay) {
  const config = YAML.parse(readFileSync(KUBECONFIG, 'utf8'));
  const base = path.dirname(KUBECONFIG);
  const context = config.contexts.find((c) => c.name === config['current-context'])?.context;
  const entry = config.clusters.find((c) => c.name === context?.cluster);
  if (!entry) throw new Error(`${KUBECONFIG}: no cluster for the current context ${config['current-context']}`);
  const cluster = entry.cluster;
  const caPem = cluster['certificate-authority-data']
    ? Buffer.from(cluster['certificate-authority-data'], 'base64')
    : cluster['certificate-authority']
      ? readFileSync(path.resolve(base, cluster['certificate-authority']))
      : undefined;
  const real = await apiServerCertificate(cluster.server, caPem);
  relay.target = real;
  await relay.up();
  const notes = [];
  cluster.server = `https://127.0.0.1:${relay.port}`;
  if (!real.validFor127 && !cluster['tls-server-name']) {
    // the certificate must be checked against a name it carries: the original host, else its first DNS SAN
    const dnsNames = (real.cert.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
    cluster['tls-server-name'] = net.isIP(real.host) ? dnsNames[0] : real.host;
    notes.push(`the API server's certificate is not valid for 127.0.0.1: tls-server-name ${cluster['tls-server-name']} set in the copy`);
  } else {
    notes.push(`the API server's certificate is valid for 127.0.0.1 (${real.validFor127 ? 'IP SAN' : 'tls-server-name already set'}): no tls-server-name needed`);
  }
  // relative file references of the original stay valid from the copy's directory
  for (const c of config.clusters) if (c.cluster['certificate-authority']) c.cluster['certificate-authority'] = path.resolve(base, c.cluster['certificate-authority']);
  for (const u of config.users ?? []) {
    for (const key of ['client-certificate', 'client-key', 'tokenFile']) if (u.user?.[key]) u.user[key] = path.resolve(base, u.user[key]);
  }
  const file = path.join(dir, 'kubeconfig-relay');
  writeFileSync(file, YAML.stringify(config), { mode: 0o600 });
  return { file, real, notes };
}

// ---- what the devloop process holds ------------------------------------------------------------
function listeningInodes() {
  const inodes = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && cols[3] === '0A') inodes.add(cols[9]); // st 0A = LISTEN
    }
  }
  return inodes;
}
function sampleProcess(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssMb = Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) / 1024;
  const threads = Number(/Threads:\s+(\d+)/.exec(status)[1]);
  const fdDir = `/proc/${pid}/fd`;
  const fds = readdirSync(fdDir);
  const listening = listeningInodes();
  let listeners = 0;
  for (const fd of fds) {
    let link;
    try {
      link = readlinkSync(`${fdDir}/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m && listening.has(m[1])) listeners++;
  }
  return { rssMb, fds: fds.length, listeners, threads };
}
/** Pids whose parent chain leads to `pid` (devloop's subprocesses, if any). */
function descendants(pid) {
  const parent = new Map();
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      parent.set(Number(p), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const found = [];
  for (const [p] of parent) {
    for (let q = parent.get(p), hops = 0; q !== undefined && q > 1 && hops < 64; q = parent.get(q), hops++) {
      if (q === pid) {
        found.push(p);
        break;
      }
    }
  }
  return found;
}

// ---- a private copy of the fixture -------------------------------------------------------------
const project = `soak-${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'devloop-soak-'));
cpSync(path.join(root, 'fixtures', 'blog'), dir, { recursive: true, verbatimSymlinks: true });
const basePort = 20000 + Math.floor(Math.random() * 12000); // below the ephemeral range (32768-): an outgoing connection may hold a port there
const localPorts = [basePort, basePort + 1];
{
  const configFile = path.join(dir, 'devloop.config.yaml');
  writeFileSync(
    configFile,
    readFileSync(configFile, 'utf8')
      .replace(/^  name: blog$/m, `  name: ${project}`)
      .replace(/namespace: blog/g, `namespace: ${project}`)
      .replace('localPort: 14000', `localPort: ${localPorts[0]}`)
      .replace('localPort: 13000', `localPort: ${localPorts[1]}`),
  );
  const k8s = path.join(dir, 'infra', 'k8s');
  for (const f of readdirSync(k8s)) {
    const full = path.join(k8s, f);
    writeFileSync(full, readFileSync(full, 'utf8').replace(/namespace: blog/g, `namespace: ${project}`).replace(/^  name: blog$/m, `  name: ${project}`));
  }
}

const relay = new FlakyRelay(undefined);
let devKubeconfig = KUBECONFIG;
const notes = [];
if (MODE === 'api-down') {
  try {
    const r = await relayKubeconfig(dir, relay);
    devKubeconfig = r.file;
    notes.push(`devloop talks to the API server ${r.real.host}:${r.real.port} through a relay on 127.0.0.1:${relay.port}`, ...r.notes);
  } catch (error) {
    relay.down();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

// ---- devloop dev and its events, counted per phase ----------------------------------------------
const t0 = { ms: undefined }; // the soak's time origin: when devloop reports that it watches
const phaseAt = (t) => (t < WARMUP ? 'warm-up' : t < DOWN_AT ? 'up' : t < DOWN_AT + DOWN_SECONDS ? 'down' : MODE === 'api-down' ? 'recovered' : 'up');
const phases = MODE === 'api-down' ? ['warm-up', 'up', 'down', 'recovered'] : ['warm-up', 'up'];
const counters = Object.fromEntries(
  [...phases, 'start-up'].map((p) => [p, { edits: 0, versionEdits: 0, buildsStarted: 0, buildsFailed: 0, synced: 0, syncFailed: 0, deployFailed: 0, deployReady: 0, errors: 0, warnings: 0 }]),
);
const recent = [];
/** Warnings by their first line (numbers blanked), for the report. */
const warningKinds = new Map();
let ready = false;
const spawnedAt = Date.now();
const child = spawn(process.execPath, [path.join(root, 'bin', 'devloop'), 'dev', '--output', 'json'], {
  cwd: dir,
  env: { ...process.env, KUBECONFIG: devKubeconfig, NO_COLOR: '1' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let stdoutBuffer = '';
let stderrTail = '';
let exit;
child.on('close', (code, signal) => (exit = { code, signal }));
child.stderr.on('data', (d) => (stderrTail = (stderrTail + d).slice(-4000)));
child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk) => {
  stdoutBuffer += chunk;
  const lines = stdoutBuffer.split('\n');
  stdoutBuffer = lines.pop() ?? '';
  for (const line of lines) {
    if (!line.trim()) continue;
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    recent.push(line.slice(0, 300));
    if (recent.length > 40) recent.shift();
    if (e.type === 'message' && String(e.text).startsWith('devloop dev: watching') && !ready) {
      ready = true;
      t0.ms = Date.now();
    }
    const c = counters[t0.ms === undefined ? 'start-up' : phaseAt((Date.now() - t0.ms) / 1000)];
    if (e.type === 'build' && e.status === 'building') c.buildsStarted++;
    else if (e.type === 'build' && e.status === 'failed' && !e.skipped) c.buildsFailed++;
    else if (e.type === 'sync' && e.status === 'synced' && e.copied?.includes('/app/public/soak.html')) c.synced++;
    else if (e.type === 'sync' && e.status === 'failed') c.syncFailed++;
    else if (e.type === 'deploy' && e.status === 'failed') c.deployFailed++;
    else if (e.type === 'deploy' && e.status === 'ready' && !e.object) c.deployReady++;
    else if (e.type === 'error') c.errors++;
    else if (e.type === 'message' && e.level === 'warn') {
      c.warnings++;
      const kind = String(e.text).split('\n')[0].replace(/\d+/g, 'N').slice(0, 160);
      warningKinds.set(kind, (warningKinds.get(kind) ?? 0) + 1);
    }
  }
});

const samples = [];
const seenDescendants = new Set();
let finishing;
async function finish(reason) {
  finishing ??= (async () => {
    const leftovers = [];
    if (MODE === 'api-down' && !relay.server) {
      // teardown needs the API server
      await relay.up().catch((e) => leftovers.push(`the relay could not listen again (${e.message}): devloop's teardown could not reach the API server`));
    }
    const pidsBefore = exit ? [] : descendants(child.pid);
    for (const p of pidsBefore) seenDescendants.add(p);
    const stopStarted = Date.now();
    if (!exit) {
      child.kill('SIGINT');
      while (!exit && Date.now() - stopStarted < TEARDOWN_TIMEOUT_MS) await sleep(200);
      if (!exit) {
        leftovers.push(`devloop did not exit within ${TEARDOWN_TIMEOUT_MS / 1000} s of SIGINT (killed)`);
        child.kill('SIGKILL');
        await sleep(500);
      }
    }
    const teardownSeconds = (Date.now() - stopStarted) / 1000;
    for (const p of seenDescendants) if (readdirSafe(`/proc/${p}`)) leftovers.push(`process ${p} (a child of devloop) still runs`);
    const listening = listeningPorts();
    for (const port of localPorts) if (listening.has(port)) leftovers.push(`port ${port} (a port-forward of devloop) is still listening`);
    try {
      const phase = kubectl(['get', 'namespace', project, '-o', 'jsonpath={.status.phase}', '--ignore-not-found']).trim();
      if (phase && phase !== 'Terminating') leftovers.push(`namespace ${project} is still ${phase}`);
    } catch (e) {
      leftovers.push(`could not check namespace ${project}: ${String(e.message).split('\n')[0]}`);
    }
    try {
      const secret = kubectl(['-n', 'default', 'get', 'secret', `devloop-inventory-${project}`, '-o', 'name', '--ignore-not-found']).trim();
      if (secret) leftovers.push(`the inventory record ${secret} is still there`);
    } catch {
      // reported by the namespace check above when the cluster does not answer
    }
    relay.down();
    try {
      kubectl(['delete', 'namespace', project, '--ignore-not-found', '--wait=false'], 30_000);
    } catch {
      // checked above
    }
    rmSync(dir, { recursive: true, force: true });
    return { reason, exit, teardownSeconds, leftovers };
  })();
  return finishing;
}
function readdirSafe(p) {
  try {
    readdirSync(p);
    return true;
  } catch {
    return false;
  }
}
function listeningPorts() {
  const ports = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length > 3 && cols[3] === '0A') ports.add(parseInt(cols[1].split(':').pop(), 16));
      }
    } catch {
      // no IPv6
    }
  }
  return ports;
}
let interrupted = false;
process.on('SIGINT', () => {
  interrupted = true;
});

// ---- the run -----------------------------------------------------------------------------------
let failure;
const downEvents = [];
try {
  const startDeadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (!ready) {
    if (exit) throw new Error(`devloop dev exited (${JSON.stringify(exit)}) before it was ready:\n${stderrTail}`);
    if (Date.now() > startDeadline || interrupted) throw new Error(`devloop dev was not ready within ${STARTUP_TIMEOUT_MS / 1000} s`);
    await sleep(100);
  }
  console.error(`[soak] ${project}: devloop dev (pid ${child.pid}) ready after ${((t0.ms - spawnedAt) / 1000).toFixed(1)} s; soaking ${SECONDS} s (${MODE})`);
  const publicFile = path.join(dir, 'services/posts/public/soak.html');
  const versionFile = path.join(dir, 'services/posts/VERSION');
  let relayIsDown = false;
  for (let second = 0; second < SECONDS && !interrupted; second++) {
    // one tick per second on an absolute schedule (no drift)
    const due = t0.ms + second * 1000;
    if (Date.now() < due) await sleep(due - Date.now());
    if (exit) throw new Error(`devloop dev exited during the soak (${JSON.stringify(exit)}):\n${stderrTail}`);
    const phase = phaseAt(second);
    if (MODE === 'api-down' && phase === 'down' && !relayIsDown) {
      relay.down();
      relayIsDown = true;
      downEvents.push(`down at ${second} s (${relay.resets} connections reset)`);
      console.error(`[soak] ${second}s: API server relay down (listener closed, ${relay.resets} connections reset)`);
    } else if (relayIsDown && phase !== 'down') {
      await relay.up();
      relayIsDown = false;
      downEvents.push(`up at ${second} s`);
      console.error(`[soak] ${second}s: API server relay up again on 127.0.0.1:${relay.port}`);
    }
    writeFileSync(publicFile, `soak ${second} ${Date.now()}\n`);
    counters[phase].edits++;
    if (second > 0 && second % REBUILD_EVERY === 0) {
      writeFileSync(versionFile, `soak-${project}-${second}\n`);
      counters[phase].versionEdits++;
    }
    if (second % SAMPLE_EVERY === 0) {
      const s = { t: second, phase, ...sampleProcess(child.pid) };
      samples.push(s);
      for (const p of descendants(child.pid)) seenDescendants.add(p);
      if (second % (SAMPLE_EVERY * 6) === 0) console.error(`[soak] ${second}s ${phase}: RSS ${s.rssMb.toFixed(1)} MB, ${s.fds} fds, ${s.listeners} listeners, ${s.threads} threads`);
    }
  }
  if (interrupted) throw new Error('interrupted (SIGINT)');
  samples.push({ t: SECONDS, phase: phaseAt(SECONDS - 1), ...sampleProcess(child.pid) });
} catch (error) {
  failure = error;
}
const done = await finish(failure ? 'failure' : 'end of the soak');

// ---- report ------------------------------------------------------------------------------------
const lines = [];
const out = (s = '') => lines.push(s);
const verdicts = [];
out(`devloop dev soak (${MODE}), ${new Date().toISOString()}, ${os.cpus().length} CPUs, node ${process.version}, project ${project}`);
out(`run: ${SECONDS} s of one edit per second (services/posts/public/soak.html, synced), services/posts/VERSION edited every ${REBUILD_EVERY} s (rebuild), samples every ${SAMPLE_EVERY} s, warm-up ${WARMUP} s`);
if (MODE === 'api-down') {
  out(`API server "down" from ${DOWN_AT} s to ${DOWN_AT + DOWN_SECONDS} s: SIMULATED by a TCP relay on 127.0.0.1 between devloop and the real API server;`);
  out('  down = the relay closes its listener (ECONNREFUSED) and resets every open connection; the real API server keeps running.');
  out(`  ${downEvents.join('; ')}; the relay accepted ${relay.accepted} connections in all and reset ${relay.resets}.`);
}
for (const n of notes) out(`note: ${n}`);
if (failure) {
  out(`FAIL: the run stopped early: ${failure.message}`);
  verdicts.push(false);
}
out();
out('| phase | seconds | edits | VERSION edits | builds started | builds failed | soak.html sync acks (all pods) | syncs failed | deploys failed | errors | warnings |');
out('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const p of ['start-up', ...phases]) {
  const c = counters[p];
  const secs = p === 'start-up' ? '' : p === 'warm-up' ? Math.min(WARMUP, SECONDS) : p === 'down' ? DOWN_SECONDS : p === 'recovered' ? SECONDS - DOWN_AT - DOWN_SECONDS : (MODE === 'api-down' ? DOWN_AT : SECONDS) - WARMUP;
  out(`| ${p} | ${secs} | ${c.edits} | ${c.versionEdits} | ${c.buildsStarted} | ${c.buildsFailed} | ${c.synced} | ${c.syncFailed} | ${c.deployFailed} | ${c.errors} | ${c.warnings} |`);
}
if (warningKinds.size) {
  const top = [...warningKinds].sort((a, b) => b[1] - a[1]).slice(0, 5);
  out(`warnings by kind (${warningKinds.size} kinds; the most frequent): ${top.map(([k, n]) => `${n}x "${k}"`).join('; ')}`);
}
const extraBuilds = phases.map((p) => [p, counters[p].buildsStarted - counters[p].versionEdits]).filter(([, n]) => n > 0);
if (extraBuilds.length) out(`builds beyond one per VERSION edit (e.g. failed syncs falling back to a rebuild): ${extraBuilds.map(([p, n]) => `${p} +${n}`).join(', ')}`);

out();
out(`samples (t s: RSS MB / fds / listeners): ${samples.map((s) => `${s.t}:${s.rssMb.toFixed(0)}/${s.fds}/${s.listeners}`).join(' ')}`);
const after = samples.filter((s) => s.t >= WARMUP);
if (after.length >= 4) {
  const base = after.filter((s) => s.t < WARMUP + 60);
  const end = after.slice(-3);
  out(`growth after warm-up: median of ${base.length} samples in [${WARMUP}, ${WARMUP + 60}) s against the median of the last ${end.length}`);
  for (const [key, label, unit] of [
    ['rssMb', 'RSS', ' MB'],
    ['fds', 'open fds', ''],
    ['listeners', 'listening sockets', ''],
  ]) {
    const from = median(base.map((s) => s[key]));
    const to = median(end.map((s) => s[key]));
    const growth = from === 0 ? (to === 0 ? 0 : Infinity) : (to - from) / from;
    const ok = growth <= GROWTH_LIMIT;
    verdicts.push(ok);
    const fmt = (v) => (unit ? v.toFixed(1) : String(v));
    out(`  ${ok ? 'ok  ' : 'FAIL'} ${label}: ${fmt(from)}${unit} -> ${fmt(to)}${unit} (${Number.isFinite(growth) ? `${(growth * 100).toFixed(1)}%` : 'from 0'}; limit ${GROWTH_LIMIT * 100}%), max ${fmt(Math.max(...after.map((s) => s[key])))}${unit}`);
  }
} else {
  out('FAIL: too few samples after the warm-up to measure growth');
  verdicts.push(false);
}
if (MODE === 'api-down') {
  const down = samples.filter((s) => s.phase === 'down');
  if (down.length >= 2) {
    const grew = down.at(-1).rssMb - down[0].rssMb;
    const ok = grew < DOWN_RSS_LIMIT_MB;
    verdicts.push(ok);
    out(`  ${ok ? 'ok  ' : 'FAIL'} RSS while the API server was down: ${down[0].rssMb.toFixed(1)} MB at ${down[0].t} s -> ${down.at(-1).rssMb.toFixed(1)} MB at ${down.at(-1).t} s (${grew >= 0 ? '+' : ''}${grew.toFixed(1)} MB; limit < ${DOWN_RSS_LIMIT_MB} MB), max ${Math.max(...down.map((s) => s.rssMb)).toFixed(1)} MB; fds ${down[0].fds} -> ${down.at(-1).fds}, listeners ${down[0].listeners} -> ${down.at(-1).listeners}`);
  } else {
    out('FAIL: too few samples in the down window');
    verdicts.push(false);
  }
}
out();
out(`teardown (SIGINT): devloop exited ${done.exit ? `with ${done.exit.signal ?? `code ${done.exit.code}`}` : 'not at all'} after ${done.teardownSeconds.toFixed(1)} s`);
if (done.exit && done.exit.code !== 0 && done.exit.code !== 130) {
  out(`FAIL: devloop's exit status after SIGINT was ${done.exit.code ?? done.exit.signal}`);
  verdicts.push(false);
}
if (done.leftovers.length) {
  verdicts.push(false);
  for (const l of done.leftovers) out(`FAIL: left behind: ${l}`);
} else {
  out('ok   nothing left: no devloop process or child, port-forward ports closed, namespace deleted or terminating, inventory Secret gone');
}
const passed = verdicts.every(Boolean);
out(`result: ${passed ? 'PASS' : 'FAIL'}`);
if (!passed || failure) {
  out('last events:');
  for (const r of recent.slice(-15)) out(`  ${r}`);
  if (stderrTail.trim()) out(`devloop stderr (end): ${stderrTail.trim().slice(-1500)}`);
}

const text = lines.join('\n');
console.log(text);
mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
const stamp = new Date().toISOString().replace(/[:]/g, '').replace(/\..*/, 'Z');
const base = path.join(root, 'bench', 'results', `soak-${MODE}-${stamp}`);
writeFileSync(`${base}.txt`, `${text}\n`);
writeFileSync(
  `${base}.json`,
  `${JSON.stringify({ mode: MODE, project, seconds: SECONDS, warmup: WARMUP, sampleEvery: SAMPLE_EVERY, rebuildEvery: REBUILD_EVERY, downAt: MODE === 'api-down' ? DOWN_AT : null, downSeconds: DOWN_SECONDS, counters, samples, relay: { accepted: relay.accepted, resets: relay.resets }, teardown: done, passed }, null, 2)}\n`,
);
console.error(`[soak] results: ${base}.txt, ${base}.json`);
process.exit(passed ? 0 : 1);
