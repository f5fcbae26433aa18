/**
 * Named and anonymous volumes (Docker's "local" driver): a directory per volume under the store,
 *
 *   $BERTH_ROOT/volumes/<name>/volume.json   the {@link VolumeRecord} (format 1: {formatVersion,
 *                                            name, createdAt, labels, anonymous}; before it,
 *                                            Docker-cased {Name, CreatedAt, Labels, Anonymous},
 *                                            which {@link VolumeService.migrate} rewrites at start)
 *   $BERTH_ROOT/volumes/<name>/_data         what containers see, bind-mounted at their path
 *
 * The service speaks of {@link VolumeInfo}s; Docker's Volume shape is made by the presenter
 * (agent/presenters/volumes.ts).
 *
 * A volume is used by every container (running or not) whose record names it; such a volume
 * cannot be removed (Conflict). A new volume mounted at a path the image has is seeded with the
 * image's content there (Docker's copy-up on first use), read from the merged view of the layer
 * dirs as overlayfs would show it (whiteouts hide names, opaque dirs hide the layers below), with
 * owners, modes and symlinks preserved.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { join } from 'node:path';
import { BerthError, ErrorCode, isErrno, systemError, unlessErrno } from '../errors';
import type { EventHub } from '../events';
import { mkdirp, writeFileAtomic } from '../store/fsutil';
import { realLayerFs, type LayerFs } from './containers/rootfs';

/** Docker's volume (and container) name rule; no "/" so no path can leave the volumes dir. */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export const VOLUME_FORMAT = 1;

/** What `volume.json` holds. */
export interface VolumeRecord {
  formatVersion: typeof VOLUME_FORMAT;
  name: string;
  /** RFC 3339. */
  createdAt: string;
  labels: Record<string, string>;
  /** Made for an image's Volumes entry or `-v /path`: removed with its container by `rm -v`/`--rm`. */
  anonymous: boolean;
}

/** A volume as the service answers for it: its record and where its data is. */
export interface VolumeInfo {
  record: VolumeRecord;
  /** The `_data` directory containers mount. */
  dataDir: string;
}

/** A volume record of no format this agent reads (damaged, or a newer agent's). */
export class VolumeFormatError extends Error {}

/**
 * `volume.json` parsed -> a record of the current format (`migrated` when it was of the format
 * before 1, Docker-cased). Throws a VolumeFormatError saying what is wrong with anything else.
 */
export function parseVolumeRecord(raw: unknown): { record: VolumeRecord; migrated: boolean } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new VolumeFormatError('the record is not a JSON object');
  const r = raw as Record<string, unknown>;
  const labels = (v: unknown): Record<string, string> => {
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string'))
      throw new VolumeFormatError('its labels are not a map of strings');
    return { ...(v as Record<string, string>) };
  };
  if (r.formatVersion === undefined) {
    if (typeof r.Name !== 'string' || typeof r.CreatedAt !== 'string') throw new VolumeFormatError('Name or CreatedAt is missing');
    return {
      record: {
        formatVersion: VOLUME_FORMAT,
        name: r.Name,
        createdAt: r.CreatedAt,
        labels: labels(r.Labels),
        anonymous: r.Anonymous === true,
      },
      migrated: true,
    };
  }
  if (r.formatVersion !== VOLUME_FORMAT)
    throw new VolumeFormatError(
      `format version ${JSON.stringify(r.formatVersion)} is not one this agent knows (it knows ${VOLUME_FORMAT})`,
    );
  if (typeof r.name !== 'string' || typeof r.createdAt !== 'string') throw new VolumeFormatError('name or createdAt is missing');
  return {
    record: {
      formatVersion: VOLUME_FORMAT,
      name: r.name,
      createdAt: r.createdAt,
      labels: labels(r.labels),
      anonymous: r.anonymous === true,
    },
    migrated: false,
  };
}

/** A volume as a container uses it (ContainerRecord.volumes). */
export interface VolumeMount {
  name: string;
  destination: string;
  readOnly: boolean;
  anonymous: boolean;
}

export function checkVolumeName(name: string, operation: string): string {
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.length > 255) {
    throw new BerthError(
      ErrorCode.InvalidArgument,
      `${operation}: invalid volume name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters`,
      { operation },
    );
  }
  return name;
}

/**
 * "name:/ctr[:ro|rw]" -> a named volume, "/ctr" alone -> an anonymous one; undefined for a host
 * bind ("/host:/ctr"), which config.ts's parseBind handles.
 */
export function parseVolumeBind(bind: string, operation: string): { name?: string; destination: string; readOnly: boolean } | undefined {
  const parts = bind.split(':');
  const bad = (why: string) => new BerthError(ErrorCode.InvalidArgument, `${operation}: invalid volume "${bind}": ${why}`, { operation });
  if (parts.length === 1) {
    if (!bind.startsWith('/')) throw bad('want name:/container/path[:ro|rw] or /container/path');
    if (bind.split('/').includes('..')) throw bad('the container path contains ".."');
    return { destination: bind, readOnly: false };
  }
  if (parts[0].startsWith('/') || parts[0].startsWith('.')) return undefined;
  if (parts.length > 3) throw bad('want name:/container/path[:ro|rw]');
  const [name, destination, mode] = parts;
  checkVolumeName(name, operation);
  if (!destination.startsWith('/')) throw bad('the container path must be absolute');
  if (destination.split('/').includes('..')) throw bad('the container path contains ".."');
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') throw bad('the mode must be ro or rw');
  return { name, destination, readOnly: mode === 'ro' };
}

export class VolumeService {
  readonly dir: string;
  /** Names of the containers that use a volume (set by the container service). */
  usedBy: (name: string) => string[] = () => [];

  constructor(
    root: string,
    private readonly events: EventHub,
    private readonly fs: LayerFs = realLayerFs,
  ) {
    this.dir = join(root, 'volumes');
  }

  /**
   * Rewrites every volume record of an older format in the current one (atomically), at agent
   * start (ContainerService.init). A record that cannot be read is reported through `log` and
   * left as it is (the volume is then not listed, as before).
   */
  migrate(log: (msg: string) => void): void {
    if (!existsSync(this.dir)) return;
    for (const name of readdirSync(this.dir).filter((n) => NAME_RE.test(n))) {
      const path = join(this.dir, name, 'volume.json');
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(path, 'utf8'));
      } catch (e) {
        // A directory without a record (ENOENT) is not a volume, as before; a damaged one is said.
        if (isErrno(e, 'ENOENT')) continue;
        if (!(e instanceof SyntaxError)) throw systemError('migrate volumes', e, { path });
        log(`volume ${name}: its record ${path} cannot be read (${e.message}); left as it is`);
        continue;
      }
      let parsed: ReturnType<typeof parseVolumeRecord>;
      try {
        parsed = parseVolumeRecord(raw);
      } catch (e) {
        if (!(e instanceof VolumeFormatError)) throw e;
        log(`volume ${name}: its record ${path} cannot be migrated (${e.message}); left as it is`);
        continue;
      }
      if (!parsed.migrated) continue;
      writeFileAtomic(path, JSON.stringify(parsed.record), 0o600);
      log(`volume ${name}: record migrated to format ${VOLUME_FORMAT}`);
    }
  }

  /** The volume's record; undefined when there is none (or it cannot be read: see {@link migrate}). */
  private read(name: string): VolumeRecord | undefined {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(join(this.dir, name, 'volume.json'), 'utf8'));
    } catch (e) {
      // No such volume (ENOENT, or ENOTDIR for a stray file), or a damaged record reported at start.
      if (isErrno(e, 'ENOENT', 'ENOTDIR') || e instanceof SyntaxError) return undefined;
      throw systemError('read volume', e, { path: join(this.dir, name) });
    }
    try {
      return parseVolumeRecord(raw).record;
    } catch (e) {
      if (e instanceof VolumeFormatError) return undefined; // reported by migrate at start
      throw e;
    }
  }

  private info(r: VolumeRecord): VolumeInfo {
    return { record: r, dataDir: this.dataDir(r.name) };
  }

  dataDir(name: string): string {
    return join(this.dir, name, '_data');
  }

  emit(action: 'create' | 'mount' | 'unmount' | 'destroy', name: string, attributes: Record<string, string> = {}): void {
    this.events.emit('volume', action, name, { driver: 'local', ...attributes });
  }

  /**
   * Creates the volume (a random 64-hex name when absent); an existing one is returned as is.
   * `created` says whether it is new (and so due for seeding).
   */
  ensure(
    name: string | undefined,
    opts: { labels?: Record<string, string>; anonymous?: boolean; operation?: string } = {},
  ): { volume: VolumeInfo; created: boolean } {
    const operation = opts.operation ?? 'create volume';
    const n = name === undefined ? randomBytes(32).toString('hex') : checkVolumeName(name, operation);
    const existing = this.read(n);
    if (existing) return { volume: this.info(existing), created: false };
    const rec: VolumeRecord = {
      formatVersion: VOLUME_FORMAT,
      name: n,
      createdAt: new Date().toISOString(),
      labels: { ...(opts.labels ?? {}) },
      anonymous: opts.anonymous === true,
    };
    const d = join(this.dir, n);
    try {
      mkdirp(d, 0o700);
      mkdirSync(join(d, '_data'), { mode: 0o755 });
      writeFileAtomic(join(d, 'volume.json'), JSON.stringify(rec), 0o600);
    } catch (e) {
      throw systemError(operation, e, { path: d });
    }
    this.emit('create', n);
    return { volume: this.info(rec), created: true };
  }

  create(name?: string, labels?: Record<string, string>): VolumeInfo {
    return this.ensure(name, { labels }).volume;
  }

  /** Every volume, by name. */
  list(): VolumeInfo[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((n) => NAME_RE.test(n))
      .map((n) => this.read(n))
      .filter((r): r is VolumeRecord => !!r)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((r) => this.info(r));
  }

  inspect(name: string): VolumeInfo {
    const operation = 'inspect volume';
    const r = this.read(checkVolumeName(name, operation));
    if (!r) throw new BerthError(ErrorCode.NotFound, `${operation}: no such volume: ${name}`, { operation });
    return this.info(r);
  }

  isAnonymous(name: string): boolean {
    return this.read(name)?.anonymous === true;
  }

  /** Removes a volume no container uses (Conflict otherwise). */
  remove(name: string, operation = 'remove volume'): void {
    const r = this.read(checkVolumeName(name, operation));
    if (!r) throw new BerthError(ErrorCode.NotFound, `${operation}: no such volume: ${name}`, { operation });
    const users = this.usedBy(name);
    if (users.length) {
      throw new BerthError(
        ErrorCode.Conflict,
        `${operation}: volume ${name} is in use by container ${users.join(', ')}; remove the container first`,
        { operation },
      );
    }
    this.discard(name);
  }

  private discard(name: string): number {
    const size = duBytes(join(this.dir, name));
    try {
      // Renamed out of the way first, so a half-removed volume never shows as a volume.
      const tomb = join(this.dir, `.removing-${name}-${randomBytes(4).toString('hex')}`);
      renameSync(join(this.dir, name), tomb);
      rmSync(tomb, { recursive: true, force: true });
    } catch (e) {
      throw systemError('remove volume', e, { path: join(this.dir, name) });
    }
    this.emit('destroy', name);
    return size;
  }

  /** Removes the anonymous volumes no container uses, and with `all` the named ones too (Docker 23+). */
  prune(all = false): { deleted: string[]; reclaimedBytes: number } {
    const out = { deleted: [] as string[], reclaimedBytes: 0 };
    for (const { record: v } of this.list()) {
      if (this.usedBy(v.name).length) continue;
      if (!all && !v.anonymous) continue;
      out.reclaimedBytes += this.discard(v.name);
      out.deleted.push(v.name);
    }
    return out;
  }

  /**
   * Copies what the image has at `path` (layers: the image's layer dirs, topmost first) into the
   * volume's _data: the merged view, owners, modes, times and symlinks kept. Nothing when the
   * image has no directory there.
   */
  seed(name: string, layers: readonly string[], path: string): void {
    const comps = path.split('/').filter((c) => c && c !== '.');
    const sources = this.contributing(layers, comps);
    if (!sources.length) return;
    const dest = this.dataDir(name);
    copyAttrs(sources[0], dest);
    this.copyDir(sources, dest);
  }

  /** The layer dirs that provide directory `comps` in the merged view, topmost first. */
  private contributing(layers: readonly string[], comps: string[]): string[] {
    const out: string[] = [];
    for (const layer of layers) {
      let dir = layer;
      let present = true;
      let cut = false;
      for (const c of comps) {
        const p = `${dir}/${c}`;
        const st = this.fs.lstat(p);
        if (!st) {
          present = false;
          break;
        }
        if (st.kind !== 'dir') return out; // a whiteout or a file hides the name below
        if (this.fs.isOpaque(p)) cut = true;
        dir = p;
      }
      if (present) out.push(dir);
      if (cut) return out;
    }
    return out;
  }

  private copyDir(sources: string[], dest: string): void {
    const seen = new Set<string>();
    for (const src of sources) {
      for (const name of readdirSync(src)) {
        if (seen.has(name)) continue;
        seen.add(name);
        const p = `${src}/${name}`;
        const st = this.fs.lstat(p);
        if (!st || st.kind === 'whiteout') continue;
        const to = join(dest, name);
        if (st.kind === 'dir') {
          // This dir continues in lower layers unless marked opaque.
          const below: string[] = [p];
          if (!this.fs.isOpaque(p)) {
            for (const lower of sources.slice(sources.indexOf(src) + 1)) {
              const lp = `${lower}/${name}`;
              const ls = this.fs.lstat(lp);
              if (!ls || ls.kind !== 'dir') break;
              below.push(lp);
              if (this.fs.isOpaque(lp)) break;
            }
          }
          mkdirSync(to);
          this.copyDir(below, to);
          copyAttrs(p, to);
        } else if (st.kind === 'symlink') {
          symlinkSync(readlinkSync(p), to);
          const s = lstatSync(p);
          lchownSync(to, s.uid, s.gid);
        } else if (st.kind === 'file') {
          copyFileSync(p, to);
          copyAttrs(p, to);
        }
        // Device nodes, fifos and sockets are not copied (Docker's copy-up skips them too).
      }
    }
  }
}

function copyAttrs(from: string, to: string): void {
  const s = lstatSync(from);
  chownSync(to, s.uid, s.gid);
  chmodSync(to, s.mode & 0o7777);
  utimesSync(to, s.atime, s.mtime);
}

function duBytes(path: string): number {
  let n = 0;
  const walk = (p: string) => {
    const st = unlessErrno(['ENOENT'], () => lstatSync(p)); // removed meanwhile: nothing to count
    if (!st) return;
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    else n += st.size;
  };
  walk(path);
  return n;
}
