/**
 * The Containers view: `container/list` (all states) grouped by state or by image. Refreshed when
 * the agent reports a container changing state (`berth/event`, debounced a little) and when the
 * connection comes back; never by asking the agent on a timer. While containers run, the rows are
 * re-rendered every 30 s so "Up 3 minutes" stays true (no request is made for that).
 */
import type * as vscode from 'vscode';
import { ListContainersRequest, type BerthEvent, type ContainerEventAction, type ContainerSummary } from '../../../protocol';
import { QUICK_REQUEST_TIMEOUT_MS } from '../../../client/connection';
import { AgentTreeProvider, type TreeAgent } from '../agentTree';
import { ContainerTreeItem } from './ContainerTreeItem';
import {
  buildContainerTree,
  childrenOf,
  containerLeaves,
  type ContainerGroupNode,
  type ContainerNode,
  type ContainersNode,
  type GroupBy,
} from './model';

/** A run creates then starts; a stop kills, dies and stops: one list for a burst. */
export const EVENT_DEBOUNCE_MS = 100;
/** How often rows of running containers are re-rendered (their uptime grows). */
export const RERENDER_MS = 30_000;

/** The actions that change what the tree shows (`kill` alone changes nothing until `die`). */
const REFRESHING: ReadonlySet<ContainerEventAction> = new Set(['create', 'start', 'die', 'stop', 'destroy', 'oom']);

export type ContainersAgent = TreeAgent;

export class ContainersTreeProvider extends AgentTreeProvider<ContainersNode, ContainerSummary[]> {
  private list: ContainerSummary[] = [];
  private roots: ContainerGroupNode[] = [];
  private rerender: NodeJS.Timeout | undefined;

  constructor(
    agent: ContainersAgent,
    private group: GroupBy = 'state',
  ) {
    super(agent, EVENT_DEBOUNCE_MS);
    this.start();
  }

  protected fetch(): Promise<ContainerSummary[]> {
    return this.agent.request(ListContainersRequest.type, { all: true }, undefined, { timeoutMs: QUICK_REQUEST_TIMEOUT_MS });
  }

  protected apply(list: ContainerSummary[]): void {
    this.list = list;
    this.roots = buildContainerTree(list, this.group);
    this.scheduleRerender();
  }

  protected refreshesOn(e: BerthEvent): boolean {
    return e.Type === 'container' && REFRESHING.has(e.Action);
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

  /** Every container last listed, in tree order. */
  containers(): ContainerNode[] {
    return containerLeaves(this.roots);
  }

  /** The node of a container by full ID or name (after a refresh, to reveal it). */
  find(idOrName: string): ContainerNode | undefined {
    return this.containers().find((n) => n.reference === idOrName || n.name === idOrName.replace(/^\//, ''));
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

  override dispose(): void {
    super.dispose();
    if (this.rerender) clearInterval(this.rerender);
  }
}
