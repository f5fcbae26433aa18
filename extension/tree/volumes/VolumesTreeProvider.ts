/**
 * The Volumes view: `volume/list`, with the containers that use each volume from `container/list`
 * (their Mounts). Refreshed when the agent reports a volume event (create, mount, unmount,
 * destroy) or a container event that changes who uses what (create, destroy, start, die), and
 * when the connection comes back; never on a timer. While the agent is away the tree keeps its
 * last state, greyed.
 */
import * as vscode from 'vscode';
import { ListContainersRequest, ListVolumesRequest, type ContainerEventAction, type ContainerSummary, type Volume } from '../../../protocol';
import { QUICK_REQUEST_TIMEOUT_MS, type AgentConnection } from '../../agent/connection';
import { ListRefresher } from '../listRefresher';
import { VolumeTreeItem } from './VolumeTreeItem';
import { buildVolumeTree, type VolumeNode } from './model';

export const EVENT_DEBOUNCE_MS = 100;

/** Container actions that change which container uses a volume, or whether it runs. */
const REFRESHING: ReadonlySet<ContainerEventAction> = new Set(['create', 'destroy', 'start', 'die']);

export type VolumesAgent = Pick<AgentConnection, 'state' | 'onDidChangeState' | 'onEvent' | 'request'>;

export class VolumesTreeProvider implements vscode.TreeDataProvider<VolumeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<VolumeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private roots: VolumeNode[] = [];
  private loaded = false;
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly errorEmitter = new vscode.EventEmitter<unknown>();
  /** A refresh failed (the Context reports it). */
  readonly onDidFail = this.errorEmitter.event;
  private readonly lists = new ListRefresher<[Volume[], ContainerSummary[]]>(
    {
      connected: () => this.agent.state.kind === 'connected',
      fetch: () =>
        Promise.all([
          this.agent.request(ListVolumesRequest.type, {}, undefined, { timeoutMs: QUICK_REQUEST_TIMEOUT_MS }),
          this.agent.request(ListContainersRequest.type, { all: true }, undefined, { timeoutMs: QUICK_REQUEST_TIMEOUT_MS }),
        ]),
      apply: ([volumes, containers]) => {
        this.roots = buildVolumeTree(volumes, containers);
        this.loaded = true;
      },
      changed: () => this.changed.fire(undefined),
      failed: (err) => this.errorEmitter.fire(err),
    },
    EVENT_DEBOUNCE_MS,
  );

  constructor(private readonly agent: VolumesAgent) {
    this.subscriptions.push(
      agent.onDidChangeState((s) => {
        if (s.kind === 'connected') void this.refresh();
        else this.changed.fire(undefined); // re-render greyed
      }),
      agent.onEvent((e) => {
        if (e.Type === 'volume' || (e.Type === 'container' && REFRESHING.has(e.Action))) this.lists.schedule();
      }),
    );
    if (agent.state.kind === 'connected') void this.refresh();
  }

  /** True while the tree shows what it knew before the agent went away. */
  get stale(): boolean {
    return this.agent.state.kind !== 'connected';
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  /** The volumes last listed, in tree order. */
  volumes(): VolumeNode[] {
    return this.roots;
  }

  find(name: string): VolumeNode | undefined {
    return this.roots.find((n) => n.name === name);
  }

  refresh(): Promise<void> {
    return this.lists.refresh();
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

  dispose(): void {
    this.lists.dispose();
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
    this.errorEmitter.dispose();
  }
}
