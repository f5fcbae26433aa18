/**
 * The Containers tree as data, built from `container/list` rows: grouped by state (running, then
 * exited, then created) or by image, running containers first in every group, then newest first.
 * Plain TypeScript, tested without VS Code; the UI words the numbers it returns.
 */
import { familiarRef, shortId } from '../../../client/format';
import type { ContainerStatus, ContainerSummary } from '../../../protocol';

export type GroupBy = 'state' | 'image';

export interface ContainerGroupNode {
  kind: 'group';
  /** Stable across refreshes, so expansion survives them. */
  id: string;
  groupBy: GroupBy;
  /** The state, or the image reference as given to create. */
  key: string;
  containers: ContainerNode[];
}

export interface ContainerNode {
  kind: 'container';
  id: string;
  /** "web" (the name without Docker's leading slash). */
  name: string;
  /** What requests name it by: the full ID. */
  reference: string;
  container: ContainerSummary;
}

export type ContainersNode = ContainerGroupNode | ContainerNode;

export const STATE_ORDER: readonly ContainerStatus[] = ['running', 'exited', 'created'];

export function isContainerNode(n: unknown): n is ContainerNode {
  return (n as ContainersNode | undefined)?.kind === 'container';
}

export function containerName(c: Pick<ContainerSummary, 'Names' | 'Id'>): string {
  const n = c.Names[0];
  return n ? n.replace(/^\//, '') : shortId(c.Id);
}

/** How the image column reads: "busybox:latest" for "docker.io/library/busybox:latest". */
export function imageLabel(c: Pick<ContainerSummary, 'Image' | 'ImageID'>): string {
  if (!c.Image) return shortId(c.ImageID);
  if (/^(sha256:)?[0-9a-f]{12,64}$/.test(c.Image)) return shortId(c.Image);
  try {
    return familiarRef(c.Image);
  } catch {
    return c.Image;
  }
}

/** Running first, then newest first, then by name (a stable order for equal times). */
export function compareContainers(a: ContainerSummary, b: ContainerSummary): number {
  const ra = a.State === 'running' ? 0 : 1;
  const rb = b.State === 'running' ? 0 : 1;
  return ra - rb || b.Created - a.Created || compare(containerName(a), containerName(b));
}

export function buildContainerTree(list: readonly ContainerSummary[], groupBy: GroupBy): ContainerGroupNode[] {
  const groups = new Map<string, ContainerGroupNode>();
  for (const c of [...list].sort(compareContainers)) {
    const key = groupBy === 'state' ? c.State : imageLabel(c);
    let g = groups.get(key);
    if (!g) {
      g = { kind: 'group', id: `group:${groupBy}:${key}`, groupBy, key, containers: [] };
      groups.set(key, g);
    }
    g.containers.push({ kind: 'container', id: `container:${c.Id}`, name: containerName(c), reference: c.Id, container: c });
  }
  const all = [...groups.values()];
  if (groupBy === 'state')
    return all.sort((a, b) => STATE_ORDER.indexOf(a.key as ContainerStatus) - STATE_ORDER.indexOf(b.key as ContainerStatus));
  // By image: images with a running container first, then by name.
  const running = (g: ContainerGroupNode) => (g.containers.some((n) => n.container.State === 'running') ? 0 : 1);
  return all.sort((a, b) => running(a) - running(b) || compare(a.key, b.key));
}

export function childrenOf(node: ContainersNode): ContainersNode[] {
  return node.kind === 'group' ? node.containers : [];
}

export function containerLeaves(roots: readonly ContainerGroupNode[]): ContainerNode[] {
  return roots.flatMap((g) => g.containers);
}

// ---------------------------------------------------------------------------------------------
// Status, as numbers the UI words (`ps`'s "Up 3 seconds", "Exited (3) 2 minutes ago")
// ---------------------------------------------------------------------------------------------

/** Docker's duration steps (protocol/wording's humanDuration), as data. */
export type Duration =
  | { unit: 'lessThanASecond' }
  | { unit: 'aboutAMinute' }
  | { unit: 'aboutAnHour' }
  | { unit: 'seconds' | 'minutes' | 'hours' | 'days' | 'weeks' | 'months' | 'years'; count: number };

export function duration(ms: number): Duration {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return { unit: 'lessThanASecond' };
  if (seconds < 60) return { unit: 'seconds', count: seconds };
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return { unit: 'aboutAMinute' };
  if (minutes < 60) return { unit: 'minutes', count: minutes };
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return { unit: 'aboutAnHour' };
  if (hours < 48) return { unit: 'hours', count: hours };
  if (hours < 24 * 7 * 2) return { unit: 'days', count: Math.floor(hours / 24) };
  if (hours < 24 * 30 * 2) return { unit: 'weeks', count: Math.floor(hours / 24 / 7) };
  if (hours < 24 * 365 * 2) return { unit: 'months', count: Math.floor(hours / 24 / 30) };
  return { unit: 'years', count: Math.floor(ms / 3_600_000 / 24 / 365) };
}

export type Status =
  | { state: 'running'; up: Duration }
  | { state: 'exited'; exitCode: number; oomKilled: boolean; ago: Duration }
  | { state: 'created' };

export function status(c: Pick<ContainerSummary, 'State' | 'ExitCode' | 'OOMKilled' | 'StartedAt' | 'FinishedAt'>, nowMs: number): Status {
  if (c.State === 'running') return { state: 'running', up: duration(Math.max(0, nowMs - Date.parse(c.StartedAt))) };
  if (c.State === 'exited')
    return { state: 'exited', exitCode: c.ExitCode, oomKilled: c.OOMKilled, ago: duration(Math.max(0, nowMs - Date.parse(c.FinishedAt))) };
  return { state: 'created' };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
