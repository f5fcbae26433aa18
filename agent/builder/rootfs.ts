/**
 * The merged view of a stack of stored layer directories, as overlayfs would show it, read
 * without mounting anything (the agent never mounts): used by builds to read the files of a stage
 * for `COPY --from`, and to find what a COPY, ADD or WORKDIR destination already is.
 *
 * Overlay rules, top layer first: a whiteout (0/0 character device) hides the name in every layer
 * below; an opaque directory (`trusted.overlay.opaque=y`) hides the lower layers' contents of that
 * directory; a non-directory hides whatever lower layers have below its name. Symlinks are
 * resolved by {@link MergedTree.resolve} as paths inside the tree: `..` stops at the root and an
 * absolute target starts again from it, so nothing outside the layers is ever read. The layer
 * directories belong to the store (the agent wrote them), but their names and link targets came
 * from images, so they are treated as data, never as host paths.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { unlessErrno } from '../errors';
import { isOpaqueDir, isWhiteout } from '../runtime/containers/diff';

/** How many symlinks one lookup may follow (Linux's limit). */
const MAX_LINKS = 40;

export interface TreeEntry {
  /** The host path in the layer that provides it. */
  host: string;
  /** lstat of `host`. */
  st: Stats;
}

export interface Resolved {
  /** The path inside the tree with every symlink resolved (the last one only when asked). */
  components: string[];
  /** The entry, when the path exists. */
  entry?: TreeEntry;
}

function lstatOrUndefined(p: string): Stats | undefined {
  return unlessErrno(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG'], () => lstatSync(p));
}

export class MergedTree {
  /** `layers`: the stored `diff` directories, topmost first. */
  constructor(private readonly layers: readonly string[]) {}

  /** The entry at `components` (free of symlinks but perhaps the last, which is not followed). */
  lstat(components: readonly string[]): TreeEntry | undefined {
    if (components.length === 0) {
      if (this.layers.length === 0) return undefined;
      const st = lstatOrUndefined(this.layers[0]);
      return st ? { host: this.layers[0], st } : undefined;
    }
    for (const layer of this.layers) {
      let dir = layer;
      let cut = false;
      for (let i = 0; i < components.length; i++) {
        const p = `${dir}/${components[i]}`;
        const st = lstatOrUndefined(p);
        if (!st) {
          if (cut) return undefined;
          break; // this layer does not have it; lower layers may
        }
        if (isWhiteout(st)) return undefined;
        if (i === components.length - 1) return { host: p, st };
        if (!st.isDirectory()) return undefined; // a file hides whatever is below its name
        if (isOpaqueDir(p)) cut = true;
        dir = p;
      }
    }
    return undefined;
  }

  /** The names in the merged directory at `components` (symlink-free), sorted bytewise. */
  list(components: readonly string[]): string[] {
    const names = new Set<string>();
    const hidden = new Set<string>();
    for (const layer of this.layers) {
      let dir = layer;
      let present = true;
      let cut = false;
      for (const c of components) {
        const p = `${dir}/${c}`;
        const st = lstatOrUndefined(p);
        if (!st) {
          present = false;
          break;
        }
        if (!st.isDirectory()) return sorted(names); // whiteout or file: nothing below shows
        if (isOpaqueDir(p)) cut = true;
        dir = p;
      }
      if (present) {
        if (components.length === 0 && isOpaqueDir(dir)) cut = true;
        for (const name of readdirSync(dir)) {
          if (names.has(name) || hidden.has(name)) continue;
          const st = lstatOrUndefined(`${dir}/${name}`);
          if (!st) continue;
          if (isWhiteout(st)) hidden.add(name);
          else names.add(name);
        }
      }
      if (cut) break;
    }
    return sorted(names);
  }

  /**
   * Resolves an absolute or relative path (relative to the root) inside the tree. Existing symlinks
   * on the way are followed (the last one only with `followLast`); components that do not exist are
   * kept as given. Throws Error('ENOTDIR') when a non-directory is in the way, Error('ELOOP') after
   * too many links.
   */
  resolve(path: string, followLast: boolean): Resolved {
    let pending = path.split('/').filter((c) => c !== '' && c !== '.');
    const done: string[] = [];
    let links = 0;
    let missing = false;
    while (pending.length > 0) {
      const c = pending.shift()!;
      if (c === '..') {
        if (!missing) done.pop();
        else done.push(c);
        continue;
      }
      if (missing) {
        done.push(c);
        continue;
      }
      const e = this.lstat([...done, c]);
      if (!e) {
        missing = true;
        done.push(c);
        continue;
      }
      if (e.st.isSymbolicLink() && (pending.length > 0 || followLast)) {
        if (++links > MAX_LINKS) throw new Error('ELOOP');
        const target = readlinkSync(e.host);
        if (target.startsWith('/')) done.length = 0;
        pending = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...pending];
        continue;
      }
      if (pending.length > 0 && !e.st.isDirectory()) throw new Error('ENOTDIR');
      done.push(c);
    }
    if (missing) {
      // ".." after a missing component: normalise lexically (nothing below it exists anyway).
      const norm: string[] = [];
      for (const c of done) {
        if (c === '..') norm.pop();
        else norm.push(c);
      }
      return { components: norm };
    }
    return { components: done, entry: this.lstat(done) };
  }
}

function sorted(names: Set<string>): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}
