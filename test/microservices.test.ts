/**
 * End to end: `bin/devloop dev --output json` on a private copy of fixtures/microservices (the user
 * story's blog as real Node.js services plus a Go service, on Debian images assembled by
 * fixtures/images.sh), against the real Docker engine and the real cluster. The services call each
 * other by Service name through cluster DNS; one session walks through the loop in order, then
 * Ctrl-C must leave no object behind.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevSession, eventually, type MicroservicesPorts, startMicroservices } from './dev-session.js';
import { kubectl, requireCluster, requireDocker, requireFixtureImages } from './helpers.js';

type QueryView = Record<string, { id: string; title: string; comments: Array<{ id: string; content: string; status: string }> }>;

async function request(port: number, urlPath: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`http://127.0.0.1:${port}${urlPath}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, json: await response.json() };
}

/** Polls `probe` (async) every 300 ms until it returns a value, for at most `timeoutMs`. */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${what}${last ? ` (${(last as Error).message})` : ''}`);
}

describe('devloop dev on the microservices fixture (Node.js + Go, cluster DNS)', () => {
  let session: DevSession<MicroservicesPorts>;
  let ns: string;

  beforeAll(async () => {
    requireDocker();
    requireCluster();
    requireFixtureImages();
    session = startMicroservices();
    ns = session.project;
    // a cold first run builds six images and pushes the Debian layers once
    await session.waitFor((e) => e.type === 'message' && String(e.text).startsWith('devloop dev: watching'), 840_000, 0, 'the loop to be ready');
  }, 900_000);

  afterAll(async () => {
    await session?.dispose();
    try {
      kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false'], 30_000);
    } catch {
      /* already gone */
    }
  });

  const logged = (pod: string, text: string, from = 0) => session.ofType('log', from).some((e) => String(e.pod).startsWith(`${pod}-`) && String(e.line).includes(text));

  it('creates a post through the port-forward and reads it back through query: the event went through the bus by Service name', async () => {
    const title = `hello from ${ns}`;
    const created = await request(session.ports.posts, '/posts', { title });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.id as string;
    const view = await until('the post in query', 60_000, async () => {
      const { json } = await request(session.ports.query, '/posts');
      return (json as QueryView)[id] ? (json as QueryView) : undefined;
    });
    expect(view[id]).toEqual({ id, title, comments: [] });
    // posts -> http://event-bus:4005 -> http://query:4002: short Service names, resolved by cluster DNS
    await session.waitFor((e) => e.type === 'log' && String(e.pod).startsWith('event-bus-') && String(e.line).includes('event-bus forwarding PostCreated'), 30_000, 0, 'the bus log line');
    await session.waitFor((e) => e.type === 'log' && String(e.pod).startsWith('query-') && String(e.line).includes('query received PostCreated'), 30_000, 0, 'the live delivery to query');
    // the Go service is a subscriber too
    const stats = await until('stats counting the post', 30_000, async () => {
      const { json } = await request(session.ports.stats, '/');
      return json.events?.PostCreated >= 1 ? json : undefined;
    });
    expect(stats).toMatchObject({ service: 'stats', message: 'stats v1' });
  });

  it("adds comments and query shows moderation's verdict on each", async () => {
    const post = (await request(session.ports.posts, '/posts', { title: 'a post to comment on' })).json.id as string;
    await until('the post in query', 60_000, async () => ((await request(session.ports.query, '/posts')).json[post] ? true : undefined));
    const fine = (await request(session.ports.comments, `/posts/${post}/comments`, { content: 'a fine comment' })).json;
    const blocked = (await request(session.ports.comments, `/posts/${post}/comments`, { content: 'I like ORANGE juice' })).json;
    expect([fine.status, blocked.status]).toEqual(['pending', 'pending']);
    const comments = await until('both verdicts in query', 60_000, async () => {
      const list = ((await request(session.ports.query, '/posts')).json as QueryView)[post].comments;
      return list.length === 2 && list.every((c) => c.status !== 'pending') ? list : undefined;
    });
    expect(comments).toEqual([
      { id: fine.id, content: 'a fine comment', status: 'approved' },
      { id: blocked.id, content: 'I like ORANGE juice', status: 'rejected' },
    ]);
    expect(logged('moderation', 'moderation received CommentCreated')).toBe(true);
  });

  it('syncs an edited handler into the running pod, node --watch restarts it, and the new behaviour is served', async () => {
    const from = session.events.length;
    const handlers = path.join(session.dir, 'services/posts/handlers.js');
    const message = `posts edited ${ns}`;
    writeFileSync(handlers, readFileSync(handlers, 'utf8').replace("message: 'posts v1'", `message: '${message}'`));
    const synced = await session.waitFor((e) => e.type === 'sync' && e.status === 'synced' && e.artifact === 'micro/posts', 60_000, from, 'the sync of handlers.js');
    expect(synced.copied).toEqual(['/app/handlers.js']);
    const served = await until('the edited message served', 60_000, async () => {
      const { json } = await request(session.ports.posts, '/');
      return json.message === message ? json : undefined;
    });
    expect(served).toEqual({ service: 'posts', message });
    // the process restarted (node --watch), the pod did not: no build, no rollout
    await session.waitFor((e) => e.type === 'log' && String(e.pod) === synced.pod && String(e.line).includes('posts listening on 4000'), 30_000, from, 'the restarted process');
    expect(session.ofType('build', from).filter((e) => e.status === 'building')).toEqual([]);

    // a rule edit in moderation: the next comment gets the new verdict, delivered through the bus
    const moderationFrom = session.events.length;
    const rules = path.join(session.dir, 'services/moderation/rules.js');
    writeFileSync(rules, readFileSync(rules, 'utf8').replace("const BLOCKED = ['orange'];", "const BLOCKED = ['orange', 'banana'];"));
    await session.waitFor((e) => e.type === 'sync' && e.status === 'synced' && e.artifact === 'micro/moderation', 60_000, moderationFrom, 'the sync of rules.js');
    await session.waitFor((e) => e.type === 'log' && String(e.pod).startsWith('moderation-') && String(e.line).includes('moderation listening on 4003'), 30_000, moderationFrom, 'moderation restarted');
    const post = (await request(session.ports.posts, '/posts', { title: 'bananas' })).json.id as string;
    await until('the post in query', 60_000, async () => ((await request(session.ports.query, '/posts')).json[post] ? true : undefined));
    await request(session.ports.comments, `/posts/${post}/comments`, { content: 'banana bread' });
    const verdict = await until('the verdict in query', 60_000, async () => {
      const [comment] = ((await request(session.ports.query, '/posts')).json as QueryView)[post].comments;
      return comment && comment.status !== 'pending' ? comment.status : undefined;
    });
    expect(verdict).toBe('rejected');
  });

  it('answers a request sent while the process in the pod is down once it listens again (the port-forward retries the refusal)', async () => {
    const from = session.events.length;
    const pod = kubectl(['get', 'pods', '-n', ns, '-l', 'app=posts', '--field-selector', 'status.phase=Running', '-o', 'jsonpath={.items[0].metadata.name}']).trim();
    // SIGKILL the process node --watch runs: nothing listens on 4000 until a watched file changes
    const kill = `const fs = require('fs');
      for (const d of fs.readdirSync('/proc')) {
        if (!/^[0-9]+$/.test(d)) continue;
        let argv;
        try { argv = fs.readFileSync('/proc/' + d + '/cmdline', 'utf8').split(String.fromCharCode(0)); } catch { continue; }
        if (argv.includes('index.js') && !argv.includes('--watch')) { process.kill(Number(d), 'SIGKILL'); console.log(d); }
      }`;
    expect(kubectl(['exec', '-n', ns, pod, '--', 'node', '-e', kill]).trim()).toMatch(/^\d+$/);
    // sent now, refused by the pod; the port-forward keeps retrying it (up to 5 s)
    // (a connection of its own: a kept-alive one to the killed process would only be closed by the runtime)
    const pending = new Promise<{ status: number; json: any }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: session.ports.posts, path: '/', agent: false, timeout: 30_000 }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(body) }));
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
      req.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 300));
    // a write in place: node --watch starts the process again
    kubectl(['exec', '-n', ns, pod, '--', 'sh', '-c', 'cat /app/handlers.js > /tmp/handlers.js && cat /tmp/handlers.js > /app/handlers.js']);
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.json.service).toBe('posts');
    await session.waitFor((e) => e.type === 'log' && String(e.pod) === pod && String(e.line).includes('posts listening on 4000'), 30_000, from, 'the restarted process');
  });

  it('rebuilds the Go service on a source edit (multi-stage), rolls it out, and the new response is served', async () => {
    const from = session.events.length;
    const source = path.join(session.dir, 'services/stats/main.go');
    const message = `stats edited ${ns}`;
    writeFileSync(source, readFileSync(source, 'utf8').replace('const version = "stats v1"', `const version = "${message}"`));
    const built = await session.waitFor((e) => e.type === 'build' && e.image === 'micro/stats' && e.status === 'built', 300_000, from, 'the rebuild of micro/stats');
    await session.waitFor((e) => e.type === 'deploy' && e.status === 'ready' && String(e.object).includes('stats'), 180_000, from, 'the rollout of stats');
    const served = await until('the new response through the port-forward', 90_000, async () => {
      const { json } = await request(session.ports.stats, '/');
      return json.message === message ? json : undefined;
    });
    expect(served.service).toBe('stats');
    await eventually('stats running the new image only', 60_000, () => {
      const images = kubectl(['get', 'pods', '-n', ns, '-l', 'app=stats', '-o', 'jsonpath={.items[*].spec.containers[0].image}']).trim().split(/\s+/);
      return images.length === 1 && images[0] === built.tag;
    });
    // only the Go service was rebuilt
    expect(new Set(session.ofType('build', from).filter((e) => e.status === 'built').map((e) => e.image))).toEqual(new Set(['micro/stats']));
  });

  it('on Ctrl-C deletes every object it applied and exits 0', async () => {
    const from = session.events.length;
    const code = await session.interrupt(240_000);
    expect(code, session.describe()).toBe(0);
    expect(session.ofType('teardown', from).some((e) => e.status === 'done')).toBe(true);
    const left = kubectl(['get', 'deployments,services,configmaps,secrets', '-A', '-l', `devloop.dev/project=${ns}`, '-o', 'name']).trim();
    expect(left).toBe('');
    expect(kubectl(['get', 'namespace', ns, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
  });
});
