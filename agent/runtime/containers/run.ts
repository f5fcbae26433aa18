import { StringDecoder } from 'node:string_decoder';
import type { ContainerCgroup } from '../cgroups';
import type { ExitStatus, LaunchedContainer } from '../helper';
import type { LogWriter } from './logs';
import type { ContainerRecord } from './record';
import { type ContainerCore, DRAIN_MS, type ExitResult, type Live, type StartStream } from './core';
import { isGoneError } from '../cgroups/fs';
/**
 * Makes `launched` (fresh from the helper, or a monitor taken over after an agent restart:
 * `fresh` false) the container's live state: output into the log and to attached clients,
 * the exit handled when it comes. A fresh start records the running state and emits `start`.
 */
export function adopt(
  svc: ContainerCore,
  rec: ContainerRecord,
  launched: LaunchedContainer,
  cgroup: ContainerCgroup,
  logs: LogWriter,
  fresh: boolean,
  stream?: StartStream,
): Live {
  const tty = rec.process.tty;
  launched.stdin?.on('error', () => {
    /* the container is gone; its exit tells */
  });
  const outputs = new Set<(s: 'stdout' | 'stderr' | 'tty', d: Buffer) => void>();
  if (stream) outputs.add(stream.onOutput);
  // The log gets text (a decoder per stream keeps characters split across chunks whole); attached
  // clients get the bytes. A Tty's one stream is logged as stdout, as Docker does.
  for (const [pipe, name] of [
    [launched.stdout!, 'stdout'],
    [launched.stderr!, 'stderr'],
  ] as const) {
    const decoder = new StringDecoder('utf8');
    const shown = tty && name === 'stdout' ? 'tty' : name;
    pipe.on('data', (d: Buffer) => {
      logs.write(name, decoder.write(d));
      for (const fn of outputs) {
        try {
          fn(shown, d);
        } catch (e) {
          svc.log(`attached output of container ${rec.id.slice(0, 12)}: ${(e as Error).message}`);
        }
      }
    });
    pipe.once('end', () => logs.write(name, decoder.end()));
  }
  let resolveDone!: () => void;
  const live: Live = { launched, cgroup, logs, stopping: false, done: new Promise((r) => (resolveDone = r)), outputs };
  svc.live.set(rec.id, live);
  if (fresh) {
    rec.state = {
      status: 'running',
      pid: launched.pid,
      exitCode: 0,
      oomKilled: false,
      startedAt: new Date().toISOString(),
      ...(rec.state.finishedAt ? { finishedAt: rec.state.finishedAt } : {}),
      error: '',
    };
    svc.save(rec, false);
    for (const v of rec.mounts.volumes)
      svc.volumes.emit('mount', v.name, { container: rec.id, destination: v.destination, 'read/write': String(!v.readOnly) });
    svc.emit('start', rec);
  }
  void launched.exited
    .then((status) => onExit(svc, rec, live, status))
    .catch((e) => svc.log(`handling the exit of container ${rec.id.slice(0, 12)}: ${(e as Error)?.stack ?? e}`))
    .finally(resolveDone);
  return live;
}

async function onExit(svc: ContainerCore, rec: ContainerRecord, live: Live, status: ExitStatus): Promise<void> {
  const { launched, cgroup, logs } = live;
  // The pid namespace died with init; wait (bounded) for the pipes to deliver the last output.
  await Promise.all(
    [launched.stdout, launched.stderr].map(
      (s) =>
        new Promise<void>((r) => {
          if (!s || s.readableEnded || s.destroyed) return r();
          const t = setTimeout(r, DRAIN_MS);
          s.once('close', () => (clearTimeout(t), r()));
        }),
    ),
  );
  let oom = false;
  try {
    oom = cgroup.oomKilled();
  } catch (e) {
    // The counter is gone with the group: report none.
    if (!isGoneError(e)) throw e;
  }
  try {
    await cgroup.killAll('SIGKILL');
    await cgroup.destroy();
  } catch (e) {
    svc.log(`removing the cgroup of container ${rec.id.slice(0, 12)}: ${(e as Error).message}`);
  }
  // Its processes are gone: the proxies close and the hosts files are rewritten now; the veth
  // and namespace go after the exit is reported (the next start and rm wait for it), unless the
  // container is removed right away (--rm).
  await svc.network.tearDown(rec.id, false, rec.autoRemove ? {} : { deferLinks: (links) => svc.trackTeardown(rec.id, links) });
  logs.close();
  svc.live.delete(rec.id);
  rec.state = {
    ...rec.state,
    status: 'exited',
    pid: 0,
    exitCode: status.code,
    oomKilled: oom,
    finishedAt: new Date().toISOString(),
    ...(status.lost ? { error: "the container's monitor went away without reporting its exit" } : {}),
  };
  if (svc.records.has(rec.id)) svc.save(rec, false);
  for (const v of rec.mounts.volumes) svc.volumes.emit('unmount', v.name, { container: rec.id });
  if (oom) svc.emit('oom', rec);
  svc.emit('die', rec, { exitCode: String(status.code) });
  if (live.stopping) svc.emit('stop', rec);
  const result: ExitResult = { exitCode: status.code, oomKilled: oom, ...(rec.state.error ? { error: rec.state.error } : {}) };
  const ws = svc.waiters.get(rec.id);
  svc.waiters.delete(rec.id);
  for (const w of ws ?? []) w(result);
  if (rec.autoRemove && svc.records.has(rec.id)) {
    try {
      svc.removeRecord(rec, true);
    } catch (e) {
      svc.log(`auto-removing container ${rec.id.slice(0, 12)}: ${(e as Error).message}`);
    }
  }
}
