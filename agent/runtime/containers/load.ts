import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno, systemError } from '../../errors';
import { mkdirp } from '../../store/fsutil';
import { ContainerCgroup } from '../cgroups';
import type { LaunchedContainer } from '../helper';
import { connectMonitor, readLeftovers } from '../monitor';
import { LogWriter } from './logs';
import { CONTAINER_FORMAT, parseContainerRecord, RecordFormatError, type ContainerRecord } from './record';
import { type ContainerCore, LOST_EXIT_CODE } from './core';
import { adopt } from './run';
/**
 * Loads the records, migrating those of an older format (rewritten atomically in the current
 * one: record.ts); containers recorded as running are taken over or marked exited (see the
 * module comment). Volumes are migrated first. A record that cannot be read or migrated is
 * logged, listed in {@link unreadable} and left on disk untouched. Call once, before serving.
 */
export async function loadContainers(svc: ContainerCore): Promise<void> {
  mkdirp(svc.dir);
  svc.volumes.migrate((m) => svc.log(m));
  for (const id of readdirSync(svc.dir)) {
    if (!/^[0-9a-f]{64}$/.test(id)) continue;
    const rec = loadRecord(svc, id);
    if (!rec) continue;
    svc.records.set(rec.id, rec);
    svc.leases.set(rec.id, svc.store.lease(rec.layers));
    if (rec.state.status === 'running') await reattach(svc, rec);
    else await svc.killLeftovers(rec.id);
  }
  // Networks: addresses of containers that are gone are released, the namespaces and veths of
  // containers that stopped without this agent are deleted, running ones get their ports back.
  const recs = [...svc.records.values()];
  await svc.network.init(
    (id) => svc.records.has(id),
    recs.filter((r) => !svc.live.has(r.id)).map((r) => r.id),
  );
  const running = recs
    .filter((r) => svc.live.has(r.id))
    .flatMap((r) => {
      try {
        return [svc.networkOf(r)];
      } catch (e) {
        svc.log(`container ${r.id.slice(0, 12)}: ${(e as Error).message}; its ports are not published`);
        return [];
      }
    });
  await svc.network.restore(running);
}

/**
 * Reads container `id`'s record, migrating (and rewriting) one of an older format. Undefined
 * when there is none to serve: a directory without a record (a create that died before writing
 * it) is removed; a record that cannot be read or migrated is reported and left alone.
 */
function loadRecord(svc: ContainerCore, id: string): ContainerRecord | undefined {
  const path = join(svc.dir, id, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw systemError('load containers', e, { path });
    svc.log(`removing container directory ${id}: it has no record (a create that did not finish)`);
    svc.store.discard(join(svc.dir, id));
    return undefined;
  }
  const unreadable = (reason: string) => {
    svc.log(
      `container ${id.slice(0, 12)}: its record ${path} cannot be read: ${reason}; the container is not loaded and its directory is left as it is`,
    );
    svc.unreadable.push({ dir: join(svc.dir, id), reason });
    return undefined;
  };
  if (text.length === 0) {
    // An empty file is what a crash between create and the record's fsync leaves: nothing refers to it.
    svc.log(`removing container directory ${id}: its record is empty (a create that did not finish)`);
    svc.store.discard(join(svc.dir, id));
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return unreadable(`not JSON (${(e as Error).message})`);
  }
  let parsed: ReturnType<typeof parseContainerRecord>;
  try {
    parsed = parseContainerRecord(raw);
  } catch (e) {
    if (!(e instanceof RecordFormatError)) throw e;
    return unreadable(e.message);
  }
  const { record, migrated } = parsed;
  if (record.id !== id) return unreadable(`it names container ${record.id.slice(0, 80)}, not the directory's ${id}`);
  if (migrated) {
    svc.save(record);
    svc.log(`container ${id.slice(0, 12)} (${record.name}): record migrated to format ${CONTAINER_FORMAT}`);
  }
  return record;
}

/**
 * A container recorded as running when this agent started: taken over from its monitor, or
 * its exit (and the output kept meanwhile) recorded from what the monitor left.
 */
async function reattach(svc: ContainerCore, rec: ContainerRecord): Promise<void> {
  const dir = svc.containerDir(rec.id);
  const short = `${rec.name} (${rec.id.slice(0, 12)})`;
  let launched: LaunchedContainer | undefined;
  try {
    launched = await connectMonitor(dir, rec.state.pid);
  } catch (e) {
    // No monitor listens (ENOENT, ECONNREFUSED...): see below. Anything else is said, then treated
    // the same way: one container's trouble must not keep the agent from starting.
    if (!isErrno(e, 'ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'ENOTSOCK'))
      svc.log(`connecting to the monitor of container ${short}: ${(e as Error).message}`);
  }
  if (launched) {
    try {
      const cgroup = ContainerCgroup.open(svc.cgroups(), `berth/${rec.id}`);
      adopt(svc, rec, launched, cgroup, new LogWriter(dir), false);
      svc.log(`container ${short} is still running: taken over from its monitor`);
      return;
    } catch (e) {
      svc.log(`taking over container ${short}: ${(e as Error).message}; killing it`);
      launched.kill('SIGKILL');
      await launched.exited;
    }
  }
  const left = readLeftovers(dir);
  let logs: LogWriter | undefined;
  try {
    logs = new LogWriter(dir);
    for (const o of left.output) logs.write(o.stream, o.data.toString('utf8'));
  } catch (e) {
    svc.log(`writing the kept output of container ${short}: ${(e as Error).message}`);
  } finally {
    logs?.close();
  }
  await svc.killLeftovers(rec.id);
  const exit = left.exit;
  if (exit) svc.log(`container ${short} exited (${exit.code}) while no agent was running`);
  else svc.log(`container ${short} was running, but its monitor is gone: marking it exited`);
  rec.state = {
    ...rec.state,
    status: 'exited',
    pid: 0,
    exitCode: exit ? exit.code : LOST_EXIT_CODE,
    finishedAt: new Date().toISOString(),
    error: exit ? '' : "the container's monitor went away (killed, or the machine restarted)",
  };
  svc.save(rec, false);
  if (rec.autoRemove) {
    try {
      svc.removeRecord(rec, true);
    } catch (e) {
      svc.log(`auto-removing container ${short}: ${(e as Error).message}`);
    }
  }
}
