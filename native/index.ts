/**
 * The native addon's TypeScript face. Arguments are checked here first (and again in C++), so a
 * programming error reads as a TypeError naming the call, never a crash.
 *
 * The loader finds the built binary whether this file runs from source (tests, via tsx) or from a
 * bundle in dist/ (agent, CLI): it tries both relative locations and BERTH_NATIVE if set.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

export interface NativeAddon {
  /** SO_PEERCRED of a connected Unix socket: who is on the other end. */
  peerCred(fd: number): PeerCred;
  /** mknod(2). `mode` includes the file type bits (S_IFCHR, S_IFBLK, S_IFIFO). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** Sets an extended attribute on the path itself, never on a symlink's target. */
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** The attribute's value, or null when the path has no such attribute. */
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  /** Flushes the filesystem that holds `fd` to disk. */
  syncfs(fd: number): void;
  /**
   * openat2(2): opens `path` relative to `dirfd` with `flags` (O_CLOEXEC always added), `mode`
   * for O_CREAT, and a `resolve` mask of {@link RESOLVE} bits. Throws an errno error naming
   * "openat2" and the path.
   */
  openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number;
}

/** openat2's resolve bits (include/uapi/linux/openat2.h). */
export const RESOLVE = {
  NO_XDEV: 0x01,
  NO_MAGICLINKS: 0x02,
  NO_SYMLINKS: 0x04,
  BENEATH: 0x08,
  /** `dirfd` is the root: absolute symlinks and ".." never leave it. */
  IN_ROOT: 0x10,
} as const;

let cached: NativeAddon | undefined;

/**
 * The path of the built `berth-helper` executable (native/helper/, built from main.c and its siblings), found the same
 * way as the addon: BERTH_HELPER if set, else next to this file's build dir, from source or bundle.
 */
export function helperPath(): string {
  const candidates = [
    process.env.BERTH_HELPER,
    join(__dirname, 'build', 'Release', 'berth-helper'),
    join(__dirname, '..', 'native', 'build', 'Release', 'berth-helper'),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `berth: the runtime helper is not built (looked in ${candidates.join(', ')}); run "npm ci" or "node scripts/build-native.mjs"`,
    );
  }
  return found;
}

/** The built `berth-init` (native/init/berth-init.c), found like {@link helperPath}; BERTH_INIT overrides. */
export function initPath(): string {
  const candidates = [
    process.env.BERTH_INIT,
    join(__dirname, 'build', 'Release', 'berth-init'),
    join(__dirname, '..', 'native', 'build', 'Release', 'berth-init'),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found)
    throw new Error(
      `berth: the container init is not built (looked in ${candidates.join(', ')}); run "npm ci" or "node scripts/build-native.mjs"`,
    );
  return found;
}

export function native(): NativeAddon {
  if (cached) return cached;
  const candidates = [
    process.env.BERTH_NATIVE,
    join(__dirname, 'build', 'Release', 'berth_native.node'),
    join(__dirname, '..', 'native', 'build', 'Release', 'berth_native.node'),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `berth: the native addon is not built (looked in ${candidates.join(', ')}); run "npm ci" or "node scripts/build-native.mjs"`,
    );
  }
  const req = createRequire(__filename);
  const raw = req(found) as NativeAddon;
  cached = {
    peerCred: (fd) => (checkInt('peerCred', 'fd', fd), raw.peerCred(fd)),
    mknod: (path, mode, major, minor) => {
      checkPath('mknod', path);
      checkInt('mknod', 'mode', mode);
      checkInt('mknod', 'major', major);
      checkInt('mknod', 'minor', minor);
      raw.mknod(path, mode, major, minor);
    },
    lsetxattr: (path, name, value) => {
      checkPath('lsetxattr', path);
      checkPath('lsetxattr', name);
      if (!Buffer.isBuffer(value)) throw new TypeError('lsetxattr: value must be a Buffer');
      raw.lsetxattr(path, name, value);
    },
    lgetxattr: (path, name) => (checkPath('lgetxattr', path), checkPath('lgetxattr', name), raw.lgetxattr(path, name)),
    llistxattr: (path) => (checkPath('llistxattr', path), raw.llistxattr(path)),
    syncfs: (fd) => (checkInt('syncfs', 'fd', fd), raw.syncfs(fd)),
    openat2: (dirfd, path, flags, mode, resolve) => {
      checkInt('openat2', 'dirfd', dirfd);
      checkPath('openat2', path);
      checkInt('openat2', 'flags', flags);
      checkInt('openat2', 'mode', mode);
      checkInt('openat2', 'resolve', resolve);
      return raw.openat2(dirfd, path, flags, mode, resolve);
    },
  };
  return cached;
}

function checkInt(call: string, what: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new TypeError(`${call}: ${what} must be a non-negative integer`);
}

function checkPath(call: string, v: unknown): void {
  if (typeof v !== 'string' || v.length === 0 || v.includes('\0')) throw new TypeError(`${call}: expected a non-empty string without NUL`);
}
