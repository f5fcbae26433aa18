/**
 * `container/changes`: a container's writable layer in detail (each change's type, size, mode and
 * mtime, and for changed and deleted paths the image layer holding the version it hides), and the
 * change feed that keeps that list current for the clients watching it (the layer inspector and
 * Browse Files in the extension).
 *
 * The list is `container/diff`'s (diff.ts: the same walk of the upper dir, the same A/C/D rules)
 * with details added. Shadowed versions are answered from the image's layer indexes, top layer
 * first, honouring whiteouts and opaque directories, never by reading the lower directories.
 *
 * How the feed notices writes (the choice, and why):
 * - While a watched container runs, every directory of its upper dir is watched with inotify
 *   (fs.watch on one directory each: Node 20 has no recursive watch on Linux). Writes through the
 *   overlay mount reach the upper dir's inodes, so inotify sees creates, writes, deletes and
 *   copy-ups there. Directories are added to the watch as they appear (each recompute syncs the set
 *   with the walk) and dropped as they go. An event carries no trust: it only schedules a
 *   recompute of the whole list (debounced {@link DEBOUNCE_MS}, at most {@link MAX_DELAY_MS} late
 *   under continuous writes); the recompute's delta against the last list is what clients get.
 * - A container whose upper dir has more than {@link MAX_WATCHED_DIRS} directories (or when the
 *   agent's total of {@link MAX_TOTAL_WATCHES} watches is reached, or inotify refuses) is polled
 *   instead: the list is recomputed every {@link POLL_MS} while it runs and someone watches.
 * - A stopped container cannot change: nothing is watched; the list is recomputed at its start
 *   and exit (container events), and the watch ends with its removal.
 * - Nothing runs for containers nobody watches.
 *
 * Hostile upper dirs: the walk uses lstat only (diff.ts). inotify_add_watch follows a symlink, so a
 * container swapping a directory for a link between the walk and the watch could make the agent
 * watch a host directory; events carry nothing but "recompute", so the worst it gains is recomputes
 * at the debounced rate. Event file names are never used.
 */
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type {
  BerthEvent,
  ChangesImageLayer,
  ContainerChangedParams,
  ContainerChangesResult,
  ContainerFileChange,
  ShadowedVersion,
} from '../../../protocol';
import { isBerthError, systemError } from '../../errors';
import { layerHistory } from '../../images/layers';
import type { LayerIndexEntry } from '../../oci/layerIndex';
import { classifyUpper, lowerIndexes, walkUpper, CHANGE_DELETED, type UpperEntry } from './diff';
import type { ContainerRecord, ContainerService } from './service';

/** Quiet time after a file event before the list is recomputed. */
export const DEBOUNCE_MS = 150;
/** Under continuous writes, the longest a change waits to be sent. */
export const MAX_DELAY_MS = 1000;
/** Recompute period of a polled running container. */
export const POLL_MS = 2000;
/** Directories of one upper dir watched with inotify; more: polled. */
export const MAX_WATCHED_DIRS = 1000;
/** inotify watches this agent holds over all containers. */
export const MAX_TOTAL_WATCHES = 8000;

// --- the detailed list (pure, given a walk) -------------------------------------------------------

/** One lower layer's records, by path, with its deletions, for shadow lookups. */
interface LowerLookup {
  byPath: Map<string, LayerIndexEntry>;
  whiteouts: Set<string>;
  opaque: Set<string>;
}

const lookups = new WeakMap<LayerIndexEntry[], LowerLookup>();

function lookupOf(entries: LayerIndexEntry[]): LowerLookup {
  let l = lookups.get(entries);
  if (l) return l;
  l = { byPath: new Map(), whiteouts: new Set(), opaque: new Set() };
  for (const e of entries) {
    if (e.type === 'whiteout') l.whiteouts.add(e.path);
    else if (e.type === 'opaque') l.opaque.add(e.path);
    else l.byPath.set(e.path, e);
  }
  lookups.set(entries, l);
  return l;
}

/**
 * The version of `path` (relative, "etc/passwd") the image shows: the top-most layer that has it,
 * unless a layer above deletes it or hides a directory above it. Layers are given top first; the
 * answer's `Layer` counts from the base (0).
 */
export function shadowedVersion(path: string, lowerIndexesTopFirst: LayerIndexEntry[][]): ShadowedVersion | undefined {
  const n = lowerIndexesTopFirst.length;
  let ancestors: string[] | undefined;
  for (let i = 0; i < n; i++) {
    const L = lookupOf(lowerIndexesTopFirst[i]);
    const e = L.byPath.get(path);
    if (e)
      return {
        Layer: n - 1 - i,
        Type: e.type,
        Size: e.type === 'file' || e.type === 'hardlink' ? e.size : 0,
        ...(e.digest ? { Digest: e.digest } : {}),
      };
    if (L.whiteouts.has(path)) return undefined;
    if (L.whiteouts.size === 0 && L.opaque.size === 0) continue;
    if (L.opaque.has('.')) return undefined;
    if (!ancestors) {
      ancestors = [];
      for (let k = path.indexOf('/'); k > 0; k = path.indexOf('/', k + 1)) ancestors.push(path.slice(0, k));
    }
    for (const a of ancestors) if (L.whiteouts.has(a) || L.opaque.has(a)) return undefined;
  }
  return undefined;
}

/** `container/diff`'s list for a walked upper dir, each row with its details (see the module comment). */
export function detailedChanges(entries: UpperEntry[], lowerIndexesTopFirst: LayerIndexEntry[][]): ContainerFileChange[] {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  return classifyUpper(entries, lowerIndexesTopFirst).map((c) => {
    const rel = c.Path.slice(1);
    const u = c.Kind === CHANGE_DELETED ? undefined : byPath.get(rel);
    const out: ContainerFileChange = { ...c, Type: 'deleted', Size: 0, Mode: 0, Mtime: 0 };
    if (u) {
      out.Type = u.kind === 'opaque-dir' ? 'dir' : u.kind === 'whiteout' ? 'deleted' : u.kind;
      out.Size = u.kind === 'file' ? u.stat.size : 0;
      out.Mode = u.stat.mode & 0o7777;
      out.Mtime = Math.floor(u.stat.mtimeMs);
    }
    if (c.Kind !== 1) {
      const s = shadowedVersion(rel, lowerIndexesTopFirst);
      if (s) out.Shadows = s;
    }
    return out;
  });
}

/** What changed between two lists: entries new or different, and paths gone. */
export function changesDelta(
  previous: ReadonlyMap<string, ContainerFileChange>,
  next: readonly ContainerFileChange[],
): { changed: ContainerFileChange[]; removed: string[] } {
  const changed: ContainerFileChange[] = [];
  const seen = new Set<string>();
  for (const c of next) {
    seen.add(c.Path);
    const p = previous.get(c.Path);
    if (!p || !sameChange(p, c)) changed.push(c);
  }
  const removed = [...previous.keys()].filter((p) => !seen.has(p));
  return { changed, removed };
}

function sameChange(a: ContainerFileChange, b: ContainerFileChange): boolean {
  const s = a.Shadows;
  const t = b.Shadows;
  const shadows = s === t || (!!s && !!t && s.Layer === t.Layer && s.Type === t.Type && s.Size === t.Size && s.Digest === t.Digest);
  return a.Kind === b.Kind && a.Type === b.Type && a.Size === b.Size && a.Mode === b.Mode && a.Mtime === b.Mtime && shadows;
}

/** The image's layers for the answer: digests and history from the image record when it is still there. */
function imageLayersOf(svc: ContainerService, rec: ContainerRecord): ChangesImageLayer[] {
  let digests: string[] = [];
  let steps: { createdBy: string }[] = [];
  try {
    const img = svc.images.lookup(rec.image.id, 'container changes');
    digests = img.layers.map((l) => l.digest);
    steps = layerHistory(svc.images.config(img).history, img.layers.length);
  } catch (e) {
    // The image record is gone (NotFound) or unreadable (a BerthError too); the chain IDs still name the layers.
    if (!isBerthError(e)) throw e;
  }
  return rec.layers.map((chainId, index) => ({ index, digest: digests[index] ?? '', chainId, createdBy: steps[index]?.createdBy ?? '' }));
}

/** The walk of `upper`, empty when the container has none yet. */
function walk(upper: string, op: string): UpperEntry[] {
  try {
    return walkUpper(upper);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && (e as NodeJS.ErrnoException).path === upper) return [];
    throw systemError(op, e, { path: upper });
  }
}

const OP = 'container changes';

/** `container/changes` without a watch: the detailed list now. */
export function containerChanges(svc: ContainerService, ref: string): ContainerChangesResult {
  const rec = svc.find(ref, OP);
  const { upper, running } = svc.runtimeOf(rec);
  const lowers = lowerIndexes(svc.store, rec.layers, OP);
  return { Id: rec.id, Running: running, ImageLayers: imageLayersOf(svc, rec), Changes: detailedChanges(walk(upper, OP), lowers), Seq: 0 };
}

// --- the feed -------------------------------------------------------------------------------------

/** A client's watch: the notifications it is sent (without its token, which the caller adds). */
export type ChangesListener = (p: Omit<ContainerChangedParams, 'token'>) => void;

interface Subscriber {
  listener: ChangesListener;
  seq: number;
}

/** One watched container: its last list, subscribers, and how writes are noticed. */
interface Watched {
  id: string;
  upper: string;
  lowers: LayerIndexEntry[][];
  last: Map<string, ContainerFileChange>;
  subscribers: Set<Subscriber>;
  dirs: Map<string, FSWatcher>;
  mode: 'inotify' | 'poll';
  timer?: NodeJS.Timeout;
  /** When the first event of the pending burst came (for MAX_DELAY_MS). */
  pendingSince?: number;
  poll?: NodeJS.Timeout;
}

/** Keeps watched containers' lists current; one per ContainerService (see {@link changeFeedOf}). */
export class ChangeFeed {
  private readonly watched = new Map<string, Watched>();
  private unsubscribeEvents?: () => void;
  private totalWatches = 0;

  constructor(private readonly svc: ContainerService) {}

  /**
   * Starts watching container `ref` for `listener`: returns the list now (Seq 0) and a function
   * that ends this watch. Notifications come in order with seq 1, 2, ...
   */
  watch(ref: string, listener: ChangesListener): { result: ContainerChangesResult; stop: () => void } {
    const rec = this.svc.find(ref, OP);
    let w = this.watched.get(rec.id);
    if (!w) {
      const { upper } = this.svc.runtimeOf(rec);
      w = {
        id: rec.id,
        upper,
        lowers: lowerIndexes(this.svc.store, rec.layers, OP),
        last: new Map(),
        subscribers: new Set(),
        dirs: new Map(),
        mode: 'inotify',
      };
      const list = detailedChanges(walk(upper, OP), w.lowers);
      w.last = new Map(list.map((c) => [c.Path, c]));
      this.watched.set(rec.id, w);
      this.unsubscribeEvents ??= this.svc.events.on((e) => this.onEvent(e));
      this.arm(w, list);
    }
    const sub: Subscriber = { listener, seq: 0 };
    w.subscribers.add(sub);
    const watched = w;
    const result: ContainerChangesResult = {
      Id: rec.id,
      Running: this.svc.runtimeOf(rec).running,
      ImageLayers: imageLayersOf(this.svc, rec),
      Changes: [...w.last.values()],
      Seq: 0,
      Watch: w.mode,
    };
    return {
      result,
      stop: () => {
        watched.subscribers.delete(sub);
        if (watched.subscribers.size === 0) this.end(watched);
      },
    };
  }

  /** Containers watched now (tests, and the agent's own bookkeeping). */
  get watchedCount(): number {
    return this.watched.size;
  }

  /** inotify watches held now. */
  get inotifyWatches(): number {
    return this.totalWatches;
  }

  private onEvent(e: BerthEvent): void {
    if (e.Type !== 'container') return;
    const w = this.watched.get(e.Actor.ID);
    if (!w) return;
    if (e.Action === 'destroy') {
      for (const s of w.subscribers) s.listener({ container: w.id, seq: ++s.seq, changed: [], removed: [], gone: true });
      w.subscribers.clear();
      this.end(w);
    } else if (e.Action === 'start' || e.Action === 'die') {
      this.recompute(w);
    }
  }

  /** A file event (or a poll tick): recompute soon, debounced but never later than MAX_DELAY_MS. */
  private schedule(w: Watched, delay = DEBOUNCE_MS): void {
    if (!this.watched.has(w.id)) return;
    const now = Date.now();
    w.pendingSince ??= now;
    const wait = Math.max(0, Math.min(delay, w.pendingSince + MAX_DELAY_MS - now));
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      w.timer = undefined;
      w.pendingSince = undefined;
      this.recompute(w);
    }, wait);
  }

  private recompute(w: Watched): void {
    if (!this.watched.has(w.id)) return;
    let list: ContainerFileChange[];
    try {
      list = detailedChanges(walk(w.upper, OP), w.lowers);
    } catch {
      // A running container can remove what the walk was about to stat (or the upper dir is
      // unreadable for now): try again a little later; the watch stays. Everything is caught on
      // purpose: this runs from a timer, where a throw would take the agent down.
      this.schedule(w, POLL_MS);
      return;
    }
    const { changed, removed } = changesDelta(w.last, list);
    if (changed.length > 0 || removed.length > 0) {
      w.last = new Map(list.map((c) => [c.Path, c]));
      for (const s of w.subscribers) s.listener({ container: w.id, seq: ++s.seq, changed, removed });
    }
    this.arm(w, list);
  }

  /** Watches the upper dir's directories while the container runs (or polls); nothing when stopped. */
  private arm(w: Watched, list: ContainerFileChange[]): void {
    const rec = this.svc.tryFind(w.id);
    const running = rec !== undefined && this.svc.runtimeOf(rec).running;
    if (!running) {
      this.disarm(w);
      return;
    }
    // The directories to watch: the root and every directory the list names (the walk's dirs are
    // all in the list: a directory in the upper dir is a change or the parent of one), and /etc,
    // which the list leaves out while it holds only the runtime's mount points (diff.ts).
    const want = new Set(['', 'etc']);
    for (const c of list) if (c.Type === 'dir') want.add(c.Path.slice(1));
    if (w.mode === 'inotify' && want.size <= MAX_WATCHED_DIRS) {
      for (const [rel, fw] of w.dirs) {
        if (!want.has(rel)) this.unwatchDir(w, rel, fw);
      }
      for (const rel of want) {
        if (w.dirs.has(rel)) continue;
        if (this.totalWatches >= MAX_TOTAL_WATCHES || !this.watchDir(w, rel)) {
          this.toPolling(w);
          break;
        }
      }
    } else if (w.mode === 'inotify') {
      this.toPolling(w);
    }
    if (w.mode === 'poll' && !w.poll) {
      w.poll = setInterval(() => this.recompute(w), POLL_MS);
      w.poll.unref?.();
    }
  }

  private watchDir(w: Watched, rel: string): boolean {
    let fw: FSWatcher;
    try {
      fw = fsWatch(rel ? join(w.upper, rel) : w.upper, { persistent: false }, () => this.schedule(w));
    } catch (e) {
      // Gone already (ENOENT: the next recompute sees it), or inotify refuses (ENOSPC: poll).
      return (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR';
    }
    fw.on('error', () => {
      this.unwatchDir(w, rel, fw);
      this.schedule(w);
    });
    w.dirs.set(rel, fw);
    this.totalWatches++;
    return true;
  }

  private unwatchDir(w: Watched, rel: string, fw: FSWatcher): void {
    if (w.dirs.get(rel) !== fw) return;
    w.dirs.delete(rel);
    this.totalWatches--;
    fw.close();
  }

  private toPolling(w: Watched): void {
    for (const [rel, fw] of w.dirs) this.unwatchDir(w, rel, fw);
    w.mode = 'poll';
  }

  private disarm(w: Watched): void {
    for (const [rel, fw] of w.dirs) this.unwatchDir(w, rel, fw);
    if (w.poll) clearInterval(w.poll);
    w.poll = undefined;
    // A stopped container starts on inotify again (its upper dir may have shrunk meanwhile: commit, cp).
    w.mode = 'inotify';
  }

  private end(w: Watched): void {
    this.disarm(w);
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
    this.watched.delete(w.id);
    if (this.watched.size === 0 && this.unsubscribeEvents) {
      this.unsubscribeEvents();
      this.unsubscribeEvents = undefined;
    }
  }
}

const feeds = new WeakMap<ContainerService, ChangeFeed>();

/** The change feed of the agent's container service (one, shared by every connection). */
export function changeFeedOf(svc: ContainerService): ChangeFeed {
  let f = feeds.get(svc);
  if (!f) feeds.set(svc, (f = new ChangeFeed(svc)));
  return f;
}
