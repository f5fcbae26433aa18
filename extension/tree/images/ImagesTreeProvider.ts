/**
 * The Images view: `image/list` turned into repositories > tags. Refreshed when the agent says
 * something changed (`berth/event`, debounced a little) and when the connection comes back; never
 * on a timer. While the agent is away the tree keeps the last images it knew, greyed.
 */
import * as vscode from 'vscode';
import { ListImagesRequest, type ImageSummary } from '../../../protocol';
import { QUICK_REQUEST_TIMEOUT_MS, type AgentConnection } from '../../agent/connection';
import { ListRefresher } from '../listRefresher';
import { ImageTreeItem } from './ImageTreeItem';
import { buildImageTree, childrenOf, leaves, type ImageLeaf, type ImageNode } from './model';

/** Events often come in bursts (a pull tags, a remove untags then deletes): one list for a burst. */
export const EVENT_DEBOUNCE_MS = 100;

export type ImagesAgent = Pick<AgentConnection, 'state' | 'onDidChangeState' | 'onEvent' | 'request'>;

export class ImagesTreeProvider implements vscode.TreeDataProvider<ImageNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ImageNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private roots: ImageNode[] = [];
  private loaded = false;
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly errorEmitter = new vscode.EventEmitter<unknown>();
  /** A refresh failed (the Context reports it). */
  readonly onDidFail = this.errorEmitter.event;
  private readonly lists = new ListRefresher<ImageSummary[]>(
    {
      connected: () => this.agent.state.kind === 'connected',
      // A stuck agent must not hold the refresh loop forever: the list times out and is reported.
      fetch: () => this.agent.request(ListImagesRequest.type, { all: true }, undefined, { timeoutMs: QUICK_REQUEST_TIMEOUT_MS }),
      apply: (list) => {
        this.roots = buildImageTree(list);
        this.loaded = true;
      },
      changed: () => this.changed.fire(undefined),
      failed: (err) => this.errorEmitter.fire(err),
    },
    EVENT_DEBOUNCE_MS,
  );

  constructor(private readonly agent: ImagesAgent) {
    this.subscriptions.push(
      agent.onDidChangeState((s) => {
        if (s.kind === 'connected') void this.refresh();
        else this.changed.fire(undefined); // re-render greyed
      }),
      agent.onEvent((e) => {
        if (e.Type === 'image') this.scheduleRefresh();
      }),
    );
    if (agent.state.kind === 'connected') void this.refresh();
  }

  /** True while the tree shows what it knew before the agent went away. */
  get stale(): boolean {
    return this.agent.state.kind !== 'connected';
  }

  /** Whether a list has ever arrived. */
  get isLoaded(): boolean {
    return this.loaded;
  }

  /** The images last listed, as tree leaves. */
  images(): ImageLeaf[] {
    return leaves(this.roots);
  }

  scheduleRefresh(): void {
    this.lists.schedule();
  }

  /** Lists again; concurrent calls share one request and a follow-up if needed. */
  refresh(): Promise<void> {
    return this.lists.refresh();
  }

  getTreeItem(node: ImageNode): vscode.TreeItem {
    return new ImageTreeItem(node, { stale: this.stale, now: Date.now() });
  }

  getChildren(node?: ImageNode): ImageNode[] {
    return node ? childrenOf(node) : this.roots;
  }

  getParent(node: ImageNode): ImageNode | undefined {
    if (node.kind === 'tag') return this.roots.find((r) => r.kind === 'repository' && r.repository === node.repository);
    if (node.kind === 'dangling') return this.roots.find((r) => r.kind === 'danglingGroup');
    return undefined;
  }

  dispose(): void {
    this.lists.dispose();
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
    this.errorEmitter.dispose();
  }
}
