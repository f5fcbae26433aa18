/**
 * The Volumes tree as data: `volume/list` joined with the Mounts of `container/list` rows, so each
 * volume knows the containers that use it (and where they mount it). Named volumes first, then
 * anonymous ones (64-hex names Berth made for `-v /path` or an image's VOLUME), each by name.
 * Plain TypeScript, tested without VS Code.
 */
import type { ContainerSummary, Volume } from '../../../protocol';
import { containerName } from '../containers/model';

export interface VolumeUser {
  /** The container's name and full ID. */
  name: string;
  id: string;
  /** Where it mounts the volume. */
  destination: string;
  readOnly: boolean;
  running: boolean;
}

export interface VolumeNode {
  kind: 'volume';
  /** Stable across refreshes. */
  id: string;
  name: string;
  /** Made for `-v /path` or an image's VOLUME (a random 64-hex name). */
  anonymous: boolean;
  volume: Volume;
  /** Containers that use it, running first, then by name. */
  users: VolumeUser[];
}

export function isVolumeNode(n: unknown): n is VolumeNode {
  return (n as VolumeNode | undefined)?.kind === 'volume';
}

export function isAnonymousName(name: string): boolean {
  return /^[0-9a-f]{64}$/.test(name);
}

export function buildVolumeTree(volumes: readonly Volume[], containers: readonly ContainerSummary[]): VolumeNode[] {
  const users = new Map<string, VolumeUser[]>();
  for (const c of containers) {
    for (const m of c.Mounts ?? []) {
      if (m.Type !== 'volume') continue;
      const list = users.get(m.Name) ?? [];
      list.push({ name: containerName(c), id: c.Id, destination: m.Destination, readOnly: !m.RW, running: c.State === 'running' });
      users.set(m.Name, list);
    }
  }
  const nodes = volumes.map(
    (v): VolumeNode => ({
      kind: 'volume',
      id: `volume:${v.Name}`,
      name: v.Name,
      anonymous: isAnonymousName(v.Name),
      volume: v,
      users: (users.get(v.Name) ?? []).sort((a, b) => Number(b.running) - Number(a.running) || compare(a.name, b.name)),
    }),
  );
  return nodes.sort((a, b) => Number(a.anonymous) - Number(b.anonymous) || compare(a.name, b.name));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
