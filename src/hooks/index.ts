/**
 * Hooks: commands devloop runs around a phase (sync, build, deploy), on the developer's machine
 * (`host.ts`) or in running containers (`container.ts`). This folder only runs one hook and
 * reports it; which hooks run when, and what a failure means, is decided by the caller:
 * - sync hooks: src/dev/ (around each batch, per artifact; `onFailure: rebuild` falls back to a rebuild);
 * - build hooks: src/build/ (around each image actually built; a failure fails that build);
 * - deploy hooks: src/deploy/ (before the apply, after the rollout wait; a failure fails the deploy).
 *
 * Events: `hook` (running, then succeeded / failed / timed-out / interrupted, with the last output
 * lines on failure); a host hook's lines as `hook` `output` events; a container hook's lines as
 * `log` events of that container marked with `hook`, so they appear in the pod's log stream.
 * Every hook has a deadline (`timeoutSeconds`, defaulted by the schema) and stops on `signal`.
 */
export { runHostHook } from './host.js';
export { runContainerHook, HOOK_PID_PREFIX } from './container.js';
export * from './types.js';
