/** What the dashboard's keys ask of the dev loop (passed to the callback given to the dashboard). */
export type DashboardAction =
  /** `r`: rebuild the selected artifact (and its dependents) and roll it out. */
  | { type: 'rebuild'; image: string }
  /** `s`: copy every syncable file of the selected artifact into its containers. */
  | { type: 'sync'; image: string }
  /** `a`: apply the changes held by `--trigger manual`. */
  | { type: 'apply' }
  /** `q` or Ctrl-C: stop, like Ctrl-C in a terminal without the dashboard. */
  | { type: 'quit' };
