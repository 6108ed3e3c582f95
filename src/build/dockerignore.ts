/**
 * `.dockerignore` semantics, as Docker applies them when it sends a build context.
 *
 * Reading (moby `dockerignore.ReadAll`): blank lines and lines starting with `#` are skipped, each
 * line is trimmed, a leading `!` marks an exception, the rest is cleaned like Go's
 * `filepath.Clean` and a leading `/` is dropped (patterns are relative to the context).
 *
 * Matching (moby `patternmatcher`): patterns apply in order and the last one that matches wins. A
 * pattern matches a path when its regular expression matches the path itself or one of its parent
 * directories (`node_modules` excludes `node_modules/a/b.js`). `*` and `?` never cross `/`; `**`
 * crosses any number of directories (`**\/x` matches `x` at any depth).
 *
 * Like `docker build`, the Dockerfile and `.dockerignore` are always sent: they are appended as
 * exceptions when a pattern excludes them.
 *
 * Directories: `isExcluded(dir, true)` is true only when the directory is excluded *and* no
 * exception could re-include anything below it, so a walker may prune it without descending.
 * Docker's classic-builder client (checked with CLI 28.2.2 against Engine 20.10.24) decides that
 * by a string-prefix test on the exception patterns (`!a/keep` keeps `a` open, `!**\/keep` does
 * not); devloop matches each exception segment by segment and keeps a directory open whenever an
 * exception could match below it. The two agree except for exceptions whose leading segments are
 * wildcards, where Docker's classic client drops files the exception names and devloop sends them
 * (see testdata/dockerignore-cases.json, case "divergent").
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { relativeInside } from '../shared/paths.js';

export interface IgnorePattern {
  /** The cleaned pattern, without the leading `!`. */
  pattern: string;
  /** True for `!pattern`: a match re-includes. */
  exclusion: boolean;
  regex: RegExp;
  /** The pattern split on `/`. */
  segments: string[];
}

/** Go's `filepath.Clean` for slash-separated paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** The lines of a `.dockerignore`, as `docker build` reads them (see the module comment). */
export function parseDockerignore(text: string): string[] {
  const patterns: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const raw of lines) {
    if (raw.startsWith('#')) continue;
    let line = raw.trim();
    if (line === '') continue;
    const invert = line.startsWith('!');
    if (invert) line = line.slice(1).trim();
    if (line.length > 0) {
      line = cleanPath(line);
      if (line.length > 1 && line.startsWith('/')) line = line.slice(1);
    }
    patterns.push(invert ? `!${line}` : line);
  }
  return patterns;
}

const REGEX_SPECIAL = new Set(['.', '+', '(', ')', '|', '{', '}', '^', '$']);

/** moby patternmatcher's glob-to-regexp translation. */
export function patternToRegExp(pattern: string): RegExp {
  let re = '^';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        re += i + 1 >= chars.length ? '.*' : '(.*/)?';
      } else {
        re += '[^/]*';
      }
    } else if (ch === '?') {
      re += '[^/]';
    } else if (ch === '\\') {
      if (i + 1 < chars.length) {
        i++;
        re += `\\${chars[i]}`;
      } else {
        re += '\\\\';
      }
    } else if (REGEX_SPECIAL.has(ch)) {
      re += `\\${ch}`;
    } else {
      re += ch;
    }
  }
  re += '$';
  try {
    return new RegExp(re, 'u');
  } catch {
    // Docker reports a bad pattern as an error when matching; a pattern that cannot compile matches nothing.
    return /(?!)/;
  }
}

export function compilePatterns(lines: readonly string[]): IgnorePattern[] {
  const compiled: IgnorePattern[] = [];
  for (const line of lines) {
    let p = line.trim();
    if (p === '') continue;
    let exclusion = false;
    if (p.startsWith('!')) {
      exclusion = true;
      p = p.slice(1);
      if (p === '') continue; // Docker rejects a lone "!"; we ignore it.
    }
    p = cleanPath(p);
    compiled.push({ pattern: p, exclusion, regex: patternToRegExp(p), segments: p.split('/') });
  }
  return compiled;
}

/** One glob segment (no `/`) against one path segment. */
function segmentMatches(glob: string, segment: string): boolean {
  return patternToRegExp(glob).test(segment);
}

/**
 * Whether `segments` (an exception pattern) could match `dir` itself, one of its ancestors, or
 * anything below it. Conservative: a segment containing `**` may absorb any number of segments.
 */
function couldMatchAtOrBelow(segments: readonly string[], dir: readonly string[]): boolean {
  if (dir.length === 0) return true;
  if (segments.length === 0) return true; // matched an ancestor: its descendants match too
  const [head, ...rest] = segments;
  if (head.includes('**')) return couldMatchAtOrBelow(rest, dir) || couldMatchAtOrBelow(segments, dir.slice(1)) || rest.length === 0;
  if (!segmentMatches(head, dir[0])) return false;
  return couldMatchAtOrBelow(rest, dir.slice(1));
}

export interface ContextFileFilter {
  /** The patterns in effect (from `.dockerignore`, plus the always-sent build files as exceptions). */
  readonly patterns: readonly string[];
  /**
   * Whether `relPath` (relative to the context, `/`-separated) is left out of the build context.
   * For a directory (`isDir`), true only when nothing below it can be re-included: safe to prune.
   */
  isExcluded(relPath: string, isDir: boolean): boolean;
  /** The `.dockerignore` line that excludes `relPath` (as `isExcluded` decides), else undefined. */
  excludedBy(relPath: string, isDir: boolean): string | undefined;
}

/**
 * The filter for a list of `.dockerignore` patterns; `alwaysSent` are paths Docker always sends;
 * `neverSent` are context-relative paths left out whatever the patterns say (devloop's state
 * directory), reported by `excludedBy` as `<path> (devloop's own state)`.
 */
export function createFileFilter(lines: readonly string[], alwaysSent: readonly string[] = [], neverSent: readonly string[] = []): ContextFileFilter {
  const base = compilePatterns(lines);
  const matches = (relPath: string, patterns: IgnorePattern[]) => matchesOrParentMatches(relPath, patterns);
  // `docker build` appends `!<file>` for the Dockerfile and .dockerignore when a pattern excludes them.
  const extra = alwaysSent.map((p) => cleanPath(p)).filter((p) => p !== '.' && !p.startsWith('../') && matches(p, base));
  const patterns = [...base, ...compilePatterns(extra.map((p) => `!${p}`))];
  const exceptions = patterns.filter((p) => p.exclusion);
  const source = [...lines, ...extra.map((p) => `!${p}`)];
  const own = neverSent.map((p) => cleanPath(p)).filter((p) => p !== '.' && !p.startsWith('../'));
  const excludedBy = (relPath: string, isDir: boolean): string | undefined => {
    const rel = cleanPath(relPath.replace(/\\/g, '/'));
    if (rel === '.') return undefined;
    const state = own.find((p) => rel === p || rel.startsWith(`${p}/`));
    if (state !== undefined) return `${state} (devloop's own state)`;
    if (patterns.length === 0) return undefined;
    const decidedBy = decidingPattern(rel, patterns);
    if (!decidedBy) return undefined;
    if (isDir && exceptions.length > 0) {
      const dirSegments = rel.split('/');
      if (exceptions.some((e) => couldMatchAtOrBelow(e.segments, dirSegments))) return undefined;
    }
    return decidedBy.pattern;
  };
  return {
    patterns: source,
    isExcluded: (relPath, isDir) => excludedBy(relPath, isDir) !== undefined,
    excludedBy,
  };
}

/** moby patternmatcher `MatchesOrParentMatches`: last matching pattern wins; parents count. */
export function matchesOrParentMatches(file: string, patterns: readonly IgnorePattern[]): boolean {
  return decidingPattern(file, patterns) !== undefined;
}

/** The last pattern that excluded `file`, or undefined when it is sent. */
function decidingPattern(file: string, patterns: readonly IgnorePattern[]): IgnorePattern | undefined {
  let matched = false;
  let decided: IgnorePattern | undefined;
  const parent = path.posix.dirname(file);
  const parentDirs = parent === '.' ? [] : parent.split('/');
  for (const p of patterns) {
    if (p.exclusion !== matched) continue;
    let match = p.regex.test(file);
    if (!match) {
      for (let i = 1; i <= parentDirs.length && !match; i++) match = p.regex.test(parentDirs.slice(0, i).join('/'));
    }
    if (match) {
      matched = !p.exclusion;
      decided = p;
    }
  }
  return matched ? decided : undefined;
}

/**
 * The filter of an artifact's context: its `.dockerignore` (if any) with the Dockerfile and
 * `.dockerignore` always sent, and devloop's state directory never (when the context holds it).
 * Reads one file synchronously; throws nothing for a missing file.
 */
export function contextFileFilter(artifact: { contextDir: string; dockerfilePath: string; stateDir?: string }): ContextFileFilter {
  let lines: string[] = [];
  try {
    lines = parseDockerignore(readFileSync(path.join(artifact.contextDir, '.dockerignore'), 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const dockerfile = path.relative(artifact.contextDir, artifact.dockerfilePath).split(path.sep).join('/');
  const state = artifact.stateDir === undefined ? undefined : relativeInside(artifact.contextDir, artifact.stateDir);
  return createFileFilter(lines, ['.dockerignore', dockerfile], state ? [state] : []);
}
