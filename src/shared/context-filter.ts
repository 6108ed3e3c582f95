/**
 * A build context's .dockerignore matcher, as the watcher (pruning) and the planner (ignore
 * decisions) ask it. Made by src/build (`contextFileFilter`, `liveContextFilter`).
 */
export interface ContextFilter {
  /** relPath is relative to the context, with `/` separators. */
  isExcluded(relPath: string, isDir: boolean): boolean;
  /** The pattern that decided an exclusion, when the filter can tell. */
  excludedBy?(relPath: string, isDir: boolean): string | undefined;
}

/** A ContextFilter that follows edits of its .dockerignore (src/build/live-filter.ts). */
export interface LiveContextFilter extends ContextFilter {
  /** Re-reads the .dockerignore now if it changed; returns whether the rules changed. */
  refresh(): boolean;
  /** The matcher as of the last reading: a value that does not change or read files. */
  current(): ContextFilter;
  /** Absolute path of the .dockerignore this filter follows. */
  readonly file: string;
}
