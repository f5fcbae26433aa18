/**
 * The Containers view: `container/list` (all states) grouped by state or by image. Refreshed when
 * the agent reports a container changing state (`berth/event`, debounced a little) and when the
 * connection comes back; never by asking the agent on a timer. While containers run, the rows are
 * re-rendered every 30 s so "Up 3 minutes" stays true (no request is made for that).
 */
import * as vscode from 'vscode';
import { ListContainersRequest, type ContainerEventAction, type ContainerSummary } from '../../../protocol';
import { QUICK_REQUEST_TIMEOUT_MS, type AgentConnection } from '../../agent/connection';
import { ListRefresher } from '../listRefresher';
import { ContainerTreeItem } from './ContainerTreeItem';
import { buildContainerTree, childrenOf, containerLeaves, type ContainerGroupNode, type ContainerNode, type ContainersNode, type GroupBy } from './model';

/** A run creates then starts; a stop kills, dies and stops: one list for a burst. */
export const EVENT_DEBOUNCE_MS = 100;
/** How often rows of running containers are re-rendered (their uptime grows). */
export const RERENDER_MS = 30_000;

/** The actions that change what the tree shows (`kill` alone changes nothing until `die`). */
const REFRESHING: ReadonlySet<ContainerEventAction> = new Set(['create', 'start', 'die', 'stop', 'destroy', 'oom']);

export type ContainersAgent = Pick<AgentConnection, 'state' | 'onDidChangeState' | 'onEvent' | 'request'>;

export class ContainersTreeProvider implements vscode.TreeDataProvider<ContainersNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ContainersNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private list: ContainerSummary[] = [];
  private roots: ContainerGroupNode[] = [];
  private loaded = false;
  private readonly subscriptions: vscode.Disposable[] = [];
  private rerender: NodeJS.Timeout | undefined;
  private readonly errorEmitter = new vscode.EventEmitter<unknown>();
  /** A refresh failed (the Context reports it). */
  readonly onDidFail = this.errorEmitter.event;
  private readonly lists = new ListRefresher<ContainerSummary[]>(
    {
      connected: () => this.agent.state.kind === 'connected',
      // A stuck agent must not hold the refresh loop forever: the list times out and is reported.
      fetch: () => this.agent.request(ListContainersRequest.type, { all: true }, undefined, { timeoutMs: QUICK_REQUEST_TIMEOUT_MS }),
      apply: (list) => {
        this.list = list;
        this.roots = buildContainerTree(list, this.group);
        this.loaded = true;
        this.scheduleRerender();
      },
      changed: () => this.changed.fire(undefined),
      failed: (err) => this.errorEmitter.fire(err),
    },
    EVENT_DEBOUNCE_MS,
  );

  constructor(
    private readonly agent: ContainersAgent,
    private group: GroupBy = 'state',
  ) {
    this.subscriptions.push(
      agent.onDidChangeState((s) => {
        if (s.kind === 'connected') void this.refresh();
        else this.changed.fire(undefined); // re-render greyed
      }),
      agent.onEvent((e) => {
        if (e.Type === 'container' && REFRESHING.has(e.Action)) this.scheduleRefresh();
      }),
    );
    if (agent.state.kind === 'connected') void this.refresh();
  }

  get groupBy(): GroupBy {
    return this.group;
  }

  set groupBy(g: GroupBy) {
    if (g === this.group) return;
    this.group = g;
    this.roots = buildContainerTree(this.list, g);
    this.changed.fire(undefined);
  }

  /** True while the tree shows what it knew before the agent went away. */
  get stale(): boolean {
    return this.agent.state.kind !== 'connected';
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  /** Every container last listed, in tree order. */
  containers(): ContainerNode[] {
    return containerLeaves(this.roots);
  }

  /** The node of a container by full ID or name (after a refresh, to reveal it). */
  find(idOrName: string): ContainerNode | undefined {
    return this.containers().find((n) => n.reference === idOrName || n.name === idOrName.replace(/^\//, ''));
  }

  scheduleRefresh(): void {
    this.lists.schedule();
  }

  /** Lists again; concurrent calls share one request and a follow-up if needed. */
  refresh(): Promise<void> {
    return this.lists.refresh();
  }

  private scheduleRerender(): void {
    if (this.rerender) clearInterval(this.rerender);
    this.rerender = undefined;
    if (!this.list.some((c) => c.State === 'running')) return;
    this.rerender = setInterval(() => this.changed.fire(undefined), RERENDER_MS);
    this.rerender.unref?.();
  }

  getTreeItem(node: ContainersNode): vscode.TreeItem {
    return new ContainerTreeItem(node, { stale: this.stale, now: Date.now(), groupBy: this.group });
  }

  getChildren(node?: ContainersNode): ContainersNode[] {
    return node ? childrenOf(node) : this.roots;
  }

  getParent(node: ContainersNode): ContainersNode | undefined {
    if (node.kind === 'group') return undefined;
    return this.roots.find((g) => g.containers.some((c) => c.id === node.id));
  }

  dispose(): void {
    this.lists.dispose();
    if (this.rerender) clearInterval(this.rerender);
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
    this.errorEmitter.dispose();
  }
}
