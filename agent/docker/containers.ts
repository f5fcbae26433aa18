/**
 * The Docker API's container routes of this slice (read-only): `GET /containers/json` (all, limit,
 * size; filters label, name, id, status, exited, ancestor, before, since, network, volume) and
 * `GET /containers/{id}/json` (size).
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../errors';
import { dockerContainerInspect, dockerContainerSummary } from '../presenters/docker/containers';
import type { ContainerView } from '../runtime/containers/service';
import { clip, type DockerContext, HttpError, type Route } from './http';
import { boolParam, type Filters, filtersParam, intParam, labelsMatch } from './query';

/** Docker's container states, as the status filter takes them. */
const STATES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

export const containerRoutes: readonly Route[] = [
  {
    methods: ['GET'],
    path: ['containers', 'json'],
    handle: (ctx, req) => {
      const q = req.query;
      const filters = filtersParam(
        q,
        ['label', 'name', 'id', 'status', 'exited', 'ancestor', 'before', 'since', 'network', 'volume'],
        ['expose', 'publish', 'health', 'isolation', 'is-task'],
      );
      const limit = intParam(q, 'limit', -1);
      const size = boolParam(q, 'size');
      const matches = containerFilter(filters, ctx);
      // Docker: a limit and a status filter both list stopped containers too.
      const all = boolParam(q, 'all') || limit > 0 || filters.has('status');
      let rows = ctx.containers
        .views(true)
        .filter((v) => all || v.running)
        .filter(matches)
        .sort((a, b) => b.record.createdAt.localeCompare(a.record.createdAt));
      if (limit > 0) rows = rows.slice(0, limit);
      const now = Date.now();
      return {
        json: rows.map((v) => {
          if (!size) return dockerContainerSummary(v, now);
          const rw = dirBytes(v.upperDir);
          return dockerContainerSummary(v, now, { rw, rootFs: rw + ctx.images.store.layersSize(v.record.layers) });
        }),
      };
    },
  },
  {
    methods: ['GET'],
    path: ['containers', '*', 'json'],
    handle: (ctx, req, [ref]) => {
      const v = ctx.containers.view(ref, 'inspect container');
      const out = dockerContainerInspect(v);
      if (!boolParam(req.query, 'size')) return { json: out };
      const rw = dirBytes(v.upperDir);
      return { json: { ...out, SizeRw: rw, SizeRootFs: rw + ctx.images.store.layersSize(v.record.layers) } };
    },
  },
];

/** The predicate of Docker's container filters (each filter an AND; a filter's values an OR, labels an AND). */
function containerFilter(f: Filters, ctx: DockerContext): (v: ContainerView) => boolean {
  const status = f.get('status');
  for (const s of status ?? []) if (!STATES.includes(s)) throw new HttpError(400, `invalid filter 'status=${clip(s)}'`);
  const exited = f.get('exited')?.map((e) => {
    if (!/^-?\d{1,10}$/.test(e)) throw new HttpError(400, `invalid filter 'exited=${clip(e)}'`);
    return Number(e);
  });
  const names = f.get('name')?.map(namePattern);
  const ids = f.get('id');
  // ancestor: the image's ID, as any of its names or ID forms resolves (a missing image is 404).
  const ancestors = f.get('ancestor')?.map((a) => ctx.images.lookup(a, 'list containers').id);
  // before/since: relative to another container's creation (a missing one is 404).
  const createdOf = (ref: string) => ctx.containers.view(ref, 'list containers').record.createdAt;
  const before = f.get('before')?.map(createdOf);
  const since = f.get('since')?.map(createdOf);
  const networks = f.get('network');
  const volumes = f.get('volume');
  return (v) => {
    const r = v.record;
    if (!labelsMatch(r.labels, f.get('label'))) return false;
    if (status && !status.includes(r.state.status)) return false;
    if (exited && !(r.state.status === 'exited' && exited.includes(r.state.exitCode))) return false;
    if (names && !names.some((m) => m(`/${r.name}`) || m(r.name))) return false;
    if (ids && !ids.some((id) => r.id.startsWith(id))) return false;
    if (ancestors && !ancestors.includes(r.image.id)) return false;
    if (before && !before.every((t) => r.createdAt < t)) return false;
    if (since && !since.every((t) => r.createdAt > t)) return false;
    if (networks && !networks.includes(r.network.mode)) return false;
    if (
      volumes &&
      !volumes.some(
        (want) =>
          r.mounts.volumes.some((m) => m.name === want || m.destination === want) ||
          r.mounts.binds.some((b) => b.source === want || b.target === want),
      )
    )
      return false;
    return true;
  };
}

/**
 * Docker matches the name filter as a regular expression against "/name". Berth takes the common
 * subset without evaluating a client's expression: a leading "^" anchors at the start (after the
 * "/"), a trailing "$" at the end, and the rest is matched literally.
 */
function namePattern(raw: string): (name: string) => boolean {
  let p = raw;
  const start = p.startsWith('^');
  if (start) p = p.slice(1);
  const end = p.endsWith('$');
  if (end) p = p.slice(0, -1);
  if (start && p.startsWith('/')) p = p.slice(1);
  return (name) => {
    const n = name.startsWith('/') ? name.slice(1) : name;
    if (start && end) return n === p;
    if (start) return n.startsWith(p);
    if (end) return n.endsWith(p);
    return name.includes(p);
  };
}

/**
 * Bytes of the regular files under `dir` (a container's writable layer), symlinks not followed;
 * 0 when it is gone. Bounded to 1,000,000 entries.
 */
function dirBytes(dir: string): number {
  let total = 0;
  let budget = 1_000_000;
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return; // removed meanwhile
      throw e;
    }
    for (const n of names) {
      if (--budget < 0) return;
      const p = join(d, n);
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(p);
      } catch (e) {
        if (isErrno(e, 'ENOENT')) continue; // removed meanwhile
        throw e;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) total += st.size;
    }
  };
  walk(dir);
  return total;
}
