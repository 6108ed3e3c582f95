/**
 * zod's validation issues translated into located config problems, each with a fix where one is
 * known (an unknown key gets a did-you-mean from the keys the schema allows there).
 */
import type { z } from 'zod';
import type { ConfigProblem } from '../errors.js';
import { closest } from '../shared/suggest.js';
import { knownKeysAt } from './known-keys.js';
import { formatPath, type Locate } from './locate.js';

/** The next step under every config problem. */
export const CONFIG_HINT = 'Fix the lines above and run the command again. Every field is documented in devloop.config.example.yaml.';

export function issueToProblems(issue: z.core.$ZodIssue, data: unknown, locate: Locate): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const base = issue.path as PropertyKey[];
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(base);
    for (const k of issue.keys) {
      const where = locate([...base, k], true);
      const suggestion = closest(k, known);
      problems.push({
        ...where,
        path: formatPath([...base, k]),
        message: `unknown key "${k}"`,
        fix: suggestion ? `did you mean "${suggestion}"?` : known.length ? `known keys: ${known.join(', ')}` : undefined,
      });
    }
  } else {
    const present = valueAt(data, base) !== undefined;
    const where = locate(present ? base : base.slice(0, -1));
    problems.push({
      ...where,
      path: formatPath(base),
      message: present ? describeIssue(issue, valueAt(data, base)) : `missing required key "${String(base[base.length - 1] ?? '')}"`,
      fix: fixFor(issue, base),
    });
  }
  return problems;
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === 'invalid_type') return `expected ${issue.expected}, got ${describeValue(value)}`;
  if (issue.code === 'invalid_value') return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.code === 'invalid_union') return 'has the wrong type';
  return issue.message;
}

function fixFor(issue: z.core.$ZodIssue, segments: PropertyKey[]): string | undefined {
  const last = segments[segments.length - 1];
  if (last === 'apiVersion') return 'set apiVersion: devloop/v1';
  if (last === 'kind') return 'set kind: Config';
  if (last === 'push' && issue.code === 'invalid_union') return 'use auto, true or false';
  return undefined;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(data: unknown, segments: PropertyKey[]): unknown {
  let cur: unknown = data;
  for (const seg of segments) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

export { isPlainObject } from './plain.js';
