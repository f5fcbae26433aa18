/**
 * The only door to the cgroup filesystems: every read, write, mkdir and rmdir the cgroup code does
 * goes through a {@link CgroupFs}, so unit tests can run it against an in-memory fake
 * ({@link FakeCgroupFs} in ./fakeFs) and assert the exact files written, without root.
 *
 * The calls are synchronous on purpose: cgroupfs operations are kernel-memory operations that
 * never wait on a disk, and a container's start path must not interleave with other requests
 * half-way through creating a group.
 */
import * as fs from 'node:fs';
import { errnoOf, isBerthError } from '../../errors';

/**
 * True when `e` says a cgroup file or directory is gone (ENOENT; ENODEV for a file of a group
 * being removed), as a Node error or wrapped by systemError (its `errno`).
 */
export function isGoneError(e: unknown): boolean {
  const errno = errnoOf(e) ?? (isBerthError(e) ? e.data.errno : undefined);
  return errno === 'ENOENT' || errno === 'ENODEV';
}

/** What the cgroup code needs from a filesystem. Errors are Node-style (`code` = errno name). */
export interface CgroupFs {
  /** Whole file as text. */
  readFile(path: string): string;
  /**
   * Writes `data` with one write(2) on an existing file (no O_CREAT, no O_TRUNC needed on
   * cgroupfs): a cgroup control file takes one value per write.
   */
  writeFile(path: string, data: string): void;
  /** mkdir(2), not recursive; throws EEXIST when the directory is there. */
  mkdir(path: string): void;
  /** rmdir(2). A cgroup directory is removable while it holds only control files. */
  rmdir(path: string): void;
  exists(path: string): boolean;
  /** Names of the sub-directories of `path` (child cgroups); control files are left out. */
  readdir(path: string): string[];
  /**
   * Calls `onChange` whenever the kernel notifies a change of the file (inotify: cgroup v2's
   * `memory.events`, `cgroup.events`). Returns a function that stops watching. Optional: without
   * it, watchers do nothing.
   */
  watch?(path: string, onChange: () => void): () => void;
}

/** The real cgroup filesystems, through node:fs. */
export const realCgroupFs: CgroupFs = {
  readFile: (path) => fs.readFileSync(path, 'utf8'),
  writeFile: (path, data) => {
    const fd = fs.openSync(path, fs.constants.O_WRONLY);
    try {
      const buf = Buffer.from(data);
      const n = fs.writeSync(fd, buf, 0, buf.length);
      if (n !== buf.length) {
        throw Object.assign(new Error(`short write (${n} of ${buf.length} bytes)`), { code: 'EIO', syscall: 'write', path });
      }
    } catch (e) {
      // writeSync's errors do not name the path; add it for the message.
      if (e && typeof e === 'object' && !('path' in e)) (e as { path?: string }).path = path;
      throw e;
    } finally {
      fs.closeSync(fd);
    }
  },
  mkdir: (path) => fs.mkdirSync(path),
  rmdir: (path) => fs.rmdirSync(path),
  exists: (path) => fs.existsSync(path),
  readdir: (path) =>
    fs
      .readdirSync(path, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name),
  watch: (path, onChange) => {
    const w = fs.watch(path, { persistent: false }, () => onChange());
    w.on('error', () => {
      /* the group was removed under the watcher: nothing more will come */
    });
    return () => w.close();
  },
};
