/**
 * Container clean-up shared by the runtime's integration tests: force-remove every container an
 * agent knows, then prove nothing of them is left in any cgroup hierarchy of this host. The
 * hierarchies come from the runtime's own detection (v1, v2 or hybrid), so the check cannot pass
 * vacuously on a host laid out differently from this one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { MessageConnection } from 'vscode-jsonrpc';
import { ListContainersRequest, RemoveContainerRequest, type ContainerSummary } from '../../protocol';
import { detectCgroups } from '../../agent/runtime/cgroups';

/** The cgroup directories a container `id` would have (`berth/<id>` in every hierarchy), that exist. */
export function cgroupLeft(id: string): string[] {
  const layout = detectCgroups();
  const roots = new Set<string>(Object.values(layout.v1));
  if (layout.unified) roots.add(layout.unified);
  if (roots.size === 0) throw new Error('no cgroup hierarchy detected on this host');
  return [...roots].map((r) => join(r, 'berth', id)).filter((d) => existsSync(d));
}

/** Force-removes every container of the agent behind `conn`; returns their IDs. */
export async function removeAllContainers(conn: MessageConnection | undefined): Promise<string[]> {
  if (!conn) return [];
  const ids: string[] = [];
  const list = (await conn.sendRequest(ListContainersRequest.type, { all: true }).catch(() => [])) as ContainerSummary[];
  for (const c of list) {
    ids.push(c.Id);
    await conn.sendRequest(RemoveContainerRequest.type, { container: c.Id, force: true }).catch(() => undefined);
  }
  return ids;
}
