/**
 * The refresh loop both explorer trees share. A tree re-lists when the agent says something
 * changed; events come in bursts (a pull tags, a run creates then starts), so `schedule` waits a
 * little and one request serves the burst. Concurrent `refresh` calls share the request in flight
 * plus at most one follow-up. Nothing is asked while the agent is away: the tree keeps its last
 * state and is only re-rendered (greyed). Plain TypeScript: no vscode import.
 */
export interface RefreshTarget<T> {
  /** Whether the agent can be asked now. */
  connected(): boolean;
  /** Asks the agent for the list. */
  fetch(): Promise<T>;
  /** Takes a fresh list (rebuilds the tree model). */
  apply(list: T): void;
  /** The tree should re-render. */
  changed(): void;
  /** A refresh failed while connected. */
  failed(err: unknown): void;
}

export class ListRefresher<T> {
  private debounce: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly target: RefreshTarget<T>,
    private readonly debounceMs: number,
  ) {}

  /** Refreshes after `debounceMs`, once for however many calls arrive meanwhile. */
  schedule(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.refresh();
    }, this.debounceMs);
  }

  refresh(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    const t = this.target;
    this.inFlight = (async () => {
      try {
        do {
          this.again = false;
          if (!t.connected()) {
            t.changed();
            return;
          }
          t.apply(await t.fetch());
          t.changed();
        } while (this.again);
      } catch (err) {
        if (t.connected()) t.failed(err);
        t.changed();
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }

  dispose(): void {
    if (this.debounce) clearTimeout(this.debounce);
  }
}
