/**
 * The Volumes view: `volume/list`, with the containers that use each volume from `container/list`
 * (their Mounts). Refreshed when the agent reports a volume event (create, mount, unmount,
 * destroy) or a container event that changes who uses what (create, destroy, start, die), and
 * when the connection comes back; never on a timer. While the agent is away the tree keeps its
 * last state, greyed.
 */
import type * as vscode from 'vscode';
import {
  ListContainersRequest,
  ListVolumesRequest,
  type BerthEvent,
  type ContainerEventAction,
  type ContainerSummary,
  type Volume,
} from '../../../protocol';
import { QUICK_REQUEST_TIMEOUT_MS } from '../../../client/connection';
import { AgentTreeProvider, type TreeAgent } from '../agentTree';
import { VolumeTreeItem } from './VolumeTreeItem';
import { buildVolumeTree, type VolumeNode } from './model';

export const EVENT_DEBOUNCE_MS = 100;

/** Container actions that change which container uses a volume, or whether it runs. */
const REFRESHING: ReadonlySet<ContainerEventAction> = new Set(['create', 'destroy', 'start', 'die']);

export type VolumesAgent = TreeAgent;

export class VolumesTreeProvider extends AgentTreeProvider<VolumeNode, [Volume[], ContainerSummary[]]> {
  private roots: VolumeNode[] = [];

  constructor(agent: VolumesAgent) {
    super(agent, EVENT_DEBOUNCE_MS);
    this.start();
  }

  protected fetch(): Promise<[Volume[], ContainerSummary[]]> {
    return Promise.all([
      this.agent.request(ListVolumesRequest.type, {}, undefined, { timeoutMs: QUICK_REQUEST_TIMEOUT_MS }),
      this.agent.request(ListContainersRequest.type, { all: true }, undefined, { timeoutMs: QUICK_REQUEST_TIMEOUT_MS }),
    ]);
  }

  protected apply([volumes, containers]: [Volume[], ContainerSummary[]]): void {
    this.roots = buildVolumeTree(volumes, containers);
  }

  protected refreshesOn(e: BerthEvent): boolean {
    return e.Type === 'volume' || (e.Type === 'container' && REFRESHING.has(e.Action));
  }

  /** The volumes last listed, in tree order. */
  volumes(): VolumeNode[] {
    return this.roots;
  }

  find(name: string): VolumeNode | undefined {
    return this.roots.find((n) => n.name === name);
  }

  getTreeItem(node: VolumeNode): vscode.TreeItem {
    return new VolumeTreeItem(node, { stale: this.stale });
  }

  getChildren(node?: VolumeNode): VolumeNode[] {
    return node ? [] : this.roots;
  }

  getParent(): undefined {
    return undefined;
  }
}
