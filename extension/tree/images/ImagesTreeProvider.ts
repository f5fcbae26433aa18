/**
 * The Images view: `image/list` turned into repositories > tags. Refreshed when the agent says
 * something changed (`berth/event`, debounced a little) and when the connection comes back; never
 * on a timer. While the agent is away the tree keeps the last images it knew, greyed.
 */
import type * as vscode from 'vscode';
import { ListImagesRequest, type BerthEvent, type ImageSummary } from '../../../protocol';
import { QUICK_REQUEST_TIMEOUT_MS } from '../../../client/connection';
import { AgentTreeProvider, type TreeAgent } from '../agentTree';
import { ImageTreeItem } from './ImageTreeItem';
import { buildImageTree, childrenOf, leaves, type ImageLeaf, type ImageNode } from './model';

/** Events often come in bursts (a pull tags, a remove untags then deletes): one list for a burst. */
export const EVENT_DEBOUNCE_MS = 100;

export type ImagesAgent = TreeAgent;

export class ImagesTreeProvider extends AgentTreeProvider<ImageNode, ImageSummary[]> {
  private roots: ImageNode[] = [];

  constructor(agent: ImagesAgent) {
    super(agent, EVENT_DEBOUNCE_MS);
    this.start();
  }

  protected fetch(): Promise<ImageSummary[]> {
    return this.agent.request(ListImagesRequest.type, { all: true }, undefined, { timeoutMs: QUICK_REQUEST_TIMEOUT_MS });
  }

  protected apply(list: ImageSummary[]): void {
    this.roots = buildImageTree(list);
  }

  protected refreshesOn(e: BerthEvent): boolean {
    return e.Type === 'image';
  }

  /** The images last listed, as tree leaves. */
  images(): ImageLeaf[] {
    return leaves(this.roots);
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
}
