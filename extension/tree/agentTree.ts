/**
 * The plumbing the explorer trees (containers, images, volumes) share: one list from the agent,
 * re-fetched through a {@link ListRefresher} when the agent reports an event the tree shows
 * (`refreshesOn`, debounced) and when the connection comes back; never on a timer. While the
 * agent is away the tree keeps its last state and is only re-rendered (greyed: `stale`). A failed
 * refresh fires `onDidFail` (the Context reports it).
 *
 * A subclass says how to fetch its list and turn it into nodes, renders them, and calls `start()`
 * at the end of its constructor (its own fields are set by then).
 */
import * as vscode from 'vscode';
import type { BerthEvent } from '../../protocol';
import type { AgentConnection } from '../../client/connection';
import { ListRefresher } from './listRefresher';

export type TreeAgent = Pick<AgentConnection, 'state' | 'onDidChangeState' | 'onEvent' | 'request'>;

export abstract class AgentTreeProvider<N, L> implements vscode.TreeDataProvider<N>, vscode.Disposable {
  protected readonly changed = new vscode.EventEmitter<N | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private loaded = false;
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly errorEmitter = new vscode.EventEmitter<unknown>();
  /** A refresh failed (the Context reports it). */
  readonly onDidFail = this.errorEmitter.event;
  private readonly lists: ListRefresher<L>;

  constructor(
    protected readonly agent: TreeAgent,
    debounceMs: number,
  ) {
    this.lists = new ListRefresher<L>(
      {
        connected: () => this.agent.state.kind === 'connected',
        // A stuck agent must not hold the refresh loop forever: fetch times out and is reported.
        fetch: () => this.fetch(),
        apply: (list) => {
          this.apply(list);
          this.loaded = true;
        },
        changed: () => this.changed.fire(undefined),
        failed: (err) => this.errorEmitter.fire(err),
      },
      debounceMs,
    );
  }

  /** Asks the agent for the list (with a quick timeout). */
  protected abstract fetch(): Promise<L>;
  /** Takes a fresh list: rebuilds the nodes. */
  protected abstract apply(list: L): void;
  /** Whether an agent event changes what the tree shows. */
  protected abstract refreshesOn(e: BerthEvent): boolean;
  abstract getTreeItem(node: N): vscode.TreeItem;
  abstract getChildren(node?: N): N[];
  abstract getParent(node: N): N | undefined;

  /** Subscribes to the agent and lists once if it is connected; called by the subclass's constructor. */
  protected start(): void {
    this.subscriptions.push(
      this.agent.onDidChangeState((s) => {
        if (s.kind === 'connected') void this.refresh();
        else this.changed.fire(undefined); // re-render greyed
      }),
      this.agent.onEvent((e) => {
        if (this.refreshesOn(e)) this.scheduleRefresh();
      }),
    );
    if (this.agent.state.kind === 'connected') void this.refresh();
  }

  /** True while the tree shows what it knew before the agent went away. */
  get stale(): boolean {
    return this.agent.state.kind !== 'connected';
  }

  /** Whether a list has ever arrived. */
  get isLoaded(): boolean {
    return this.loaded;
  }

  /** Lists again after the debounce, once for a burst of calls. */
  scheduleRefresh(): void {
    this.lists.schedule();
  }

  /** Lists again; concurrent calls share one request and a follow-up if needed. */
  refresh(): Promise<void> {
    return this.lists.refresh();
  }

  dispose(): void {
    this.lists.dispose();
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
    this.errorEmitter.dispose();
  }
}
