/**
 * The Images view: `image/list` turned into repositories > tags. Refreshed when the agent says
 * something changed (`berth/event`, debounced a little) and when the connection comes back; never
 * on a timer. While the agent is away the tree keeps the last images it knew, greyed.
 */
import * as vscode from 'vscode';
import { ListImagesRequest, type ImageSummary } from '../../../protocol';
import type { AgentConnection } from '../../agent/connection';
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
  private debounce: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;
  private readonly errorEmitter = new vscode.EventEmitter<unknown>();
  /** A refresh failed (the Context reports it). */
  readonly onDidFail = this.errorEmitter.event;

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
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.refresh();
    }, EVENT_DEBOUNCE_MS);
  }

  /** Lists the images again; concurrent calls share one request and a follow-up if needed. */
  refresh(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = (async () => {
      try {
        do {
          this.again = false;
          if (this.agent.state.kind !== 'connected') {
            this.changed.fire(undefined);
            return;
          }
          const list: ImageSummary[] = await this.agent.request(ListImagesRequest.type, { all: true });
          this.roots = buildImageTree(list);
          this.loaded = true;
          this.changed.fire(undefined);
        } while (this.again);
      } catch (err) {
        if (this.agent.state.kind === 'connected') this.errorEmitter.fire(err);
        this.changed.fire(undefined);
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
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
    if (this.debounce) clearTimeout(this.debounce);
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
    this.errorEmitter.dispose();
  }
}
