/**
 * Reads files of a container's root filesystem before it is mounted, straight from its layer
 * directories (the container's upper dir and the image's layers, top first), the way overlayfs
 * would show them: a whiteout (a 0/0 character device) hides the name in every layer below, an
 * opaque directory (trusted.overlay.opaque=y) hides the lower layers' contents of that directory.
 * Symlinks are resolved by this module, as paths inside the rootfs: `..` stops at its root and an
 * absolute target starts again from it, so nothing outside the layers is ever read.
 */
import * as fs from 'node:fs';
import { native } from '../../../native';
import { isErrno } from '../../errors';

/** What {@link RootfsReader} needs of the filesystem (a fake in unit tests). */
export interface LayerFs {
  /** lstat: undefined when absent. */
  lstat(path: string): { kind: 'file' | 'dir' | 'symlink' | 'whiteout' | 'other' } | undefined;
  readlink(path: string): string;
  readFile(path: string): Buffer;
  /** True when the directory is marked opaque. */
  isOpaque(path: string): boolean;
}

export const realLayerFs: LayerFs = {
  lstat(path) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(path);
    } catch (e) {
      // Not in this layer (or a file stands where a directory of the path would be).
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return undefined;
      throw e;
    }
    if (st.isCharacterDevice() && st.rdev === 0) return { kind: 'whiteout' };
    if (st.isSymbolicLink()) return { kind: 'symlink' };
    if (st.isDirectory()) return { kind: 'dir' };
    if (st.isFile()) return { kind: 'file' };
    return { kind: 'other' };
  },
  readlink: (path) => fs.readlinkSync(path),
  readFile: (path) => fs.readFileSync(path),
  isOpaque: (path) => native().lgetxattr(path, 'trusted.overlay.opaque')?.toString() === 'y',
};

/** How many symlinks one lookup may follow (Linux's limit). */
const MAX_LINKS = 40;

export class RootfsReader {
  /** `layers`: host directories, topmost first (the container's upper dir, then the image's). */
  constructor(
    private readonly layers: readonly string[],
    private readonly fs: LayerFs = realLayerFs,
  ) {}

  /**
   * Finds `path` (absolute, inside the rootfs) as the merged view shows it, without following
   * its last component when it is a symlink. Returns the host path in the layer that provides
   * it and its kind, or undefined when it does not exist.
   */
  private lookupEntry(components: string[]): { host: string; kind: 'file' | 'dir' | 'symlink' | 'other' } | undefined {
    // Walk the layers top first; a whiteout or an opaque dir on the way cuts off the layers below.
    for (const layer of this.layers) {
      let dir = layer;
      let cut = false;
      let found: { host: string; kind: 'file' | 'dir' | 'symlink' | 'other' } | undefined;
      let blocked = false;
      for (let i = 0; i < components.length; i++) {
        const p = `${dir}/${components[i]}`;
        const st = this.fs.lstat(p);
        const last = i === components.length - 1;
        if (!st) {
          blocked = true; // this layer does not have it; lower layers may
          break;
        }
        if (st.kind === 'whiteout') return undefined;
        if (last) {
          found = { host: p, kind: st.kind };
          break;
        }
        if (st.kind !== 'dir') return undefined; // a file hides whatever is below its name
        if (this.fs.isOpaque(p)) cut = true;
        dir = p;
      }
      if (found) return found;
      if (blocked && cut) return undefined;
      if (!blocked && components.length === 0) return { host: layer, kind: 'dir' };
    }
    return undefined;
  }

  /**
   * {@link lookupEntry} for callers that resolve symlinks themselves (containers/files.ts):
   * `components` must be free of symlinks except perhaps the last, which is not followed.
   */
  entry(components: string[]): { host: string; kind: 'file' | 'dir' | 'symlink' | 'other' } | undefined {
    return this.lookupEntry(components);
  }

  /**
   * The host directories whose contents make up the merged directory at `components` (which must
   * be free of symlinks), top layer first: every layer that has it as a directory, down to and
   * including the first where it, or a directory above it, is opaque. Names in them still need
   * whiteout filtering by the caller (a whiteout in a higher one hides the name in lower ones).
   */
  directoryLayers(components: string[]): string[] {
    const out: string[] = [];
    for (const layer of this.layers) {
      let dir = layer;
      let cut = false;
      let present = true;
      for (const c of components) {
        const p = `${dir}/${c}`;
        const st = this.fs.lstat(p);
        if (!st) {
          present = false;
          break;
        }
        if (st.kind !== 'dir') return out; // a whiteout or a file hides the name in every layer below
        if (this.fs.isOpaque(p)) cut = true;
        dir = p;
      }
      if (present) out.push(dir);
      if (cut) return out;
    }
    return out;
  }

  /** Resolves `path` to its final entry, following symlinks inside the rootfs. */
  resolve(path: string): { host: string; kind: 'file' | 'dir' | 'other'; path: string } | undefined {
    let pending = path.split('/').filter((c) => c !== '' && c !== '.');
    const done: string[] = [];
    let links = 0;
    if (pending.length === 0) return this.layers.length ? { host: this.layers[0], kind: 'dir', path: '/' } : undefined;
    while (pending.length > 0) {
      const c = pending.shift()!;
      if (c === '..') {
        done.pop();
        continue;
      }
      const e = this.lookupEntry([...done, c]);
      if (!e) return undefined;
      if (e.kind === 'symlink') {
        if (++links > MAX_LINKS) return undefined;
        const target = this.fs.readlink(e.host);
        const parts = target.split('/').filter((x) => x !== '' && x !== '.');
        if (target.startsWith('/')) done.length = 0;
        pending = [...parts, ...pending];
        continue;
      }
      if (pending.length > 0 && e.kind !== 'dir') return undefined;
      done.push(c);
      if (pending.length === 0) return { host: e.host, kind: e.kind, path: '/' + done.join('/') };
    }
    // Only reached when the path ended in ".." components.
    const e = done.length ? this.lookupEntry(done) : undefined;
    if (done.length === 0) return { host: this.layers[0], kind: 'dir', path: '/' };
    return e && e.kind !== 'symlink' ? { host: e.host, kind: e.kind, path: '/' + done.join('/') } : undefined;
  }

  /** The content of a regular file, or undefined when there is none at `path`. */
  readFile(path: string): Buffer | undefined {
    const r = this.resolve(path);
    if (!r || r.kind !== 'file') return undefined;
    return this.fs.readFile(r.host);
  }

  isDirectory(path: string): boolean {
    return this.resolve(path)?.kind === 'dir';
  }
}
