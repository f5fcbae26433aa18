/**
 * An in-memory {@link CgroupFs} that records every operation, for unit tests of the cgroup code
 * without root or a real cgroupfs.
 *
 * It imitates just enough of the kernel: `mkdir` under a registered hierarchy populates the new
 * group with that hierarchy's control files (from a template), `rmdir` refuses a group that still
 * has child groups (EBUSY), writes to `cgroup.subtree_control` apply "+ctl"/"-ctl" tokens, and
 * any operation can be made to fail with an errno.
 */
import type { CgroupFs } from './fs';

/** One recorded operation. `data` is set for writes. */
export interface FakeOp {
  op: 'read' | 'write' | 'mkdir' | 'rmdir';
  path: string;
  data?: string;
}

function errnoError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export class FakeCgroupFs implements CgroupFs {
  /** Files by absolute path. */
  readonly files = new Map<string, string>();
  /** Directories by absolute path. */
  readonly dirs = new Set<string>(['/']);
  /** Every operation, in order (reads included; filter with {@link writes}). */
  readonly log: FakeOp[] = [];
  private readonly templates = new Map<string, (groupPath: string) => Record<string, string>>();
  private readonly failures: { op: FakeOp['op']; path: string; code: string; times: number }[] = [];
  private readonly watchers = new Map<string, Set<() => void>>();

  /**
   * Declares a mounted hierarchy at `root`: creates it (and its parents) with the files of
   * `template(root)`, and every group later made under it gets `template(groupPath)`.
   */
  addHierarchy(root: string, template: (groupPath: string) => Record<string, string>): this {
    this.templates.set(root, template);
    this.mkdirs(root);
    for (const [name, content] of Object.entries(template(root))) this.files.set(`${root}/${name}`, content);
    return this;
  }

  /** Creates directories (and parents) without recording or templates. */
  mkdirs(path: string): void {
    const parts = path.split('/').filter(Boolean);
    let p = '';
    for (const part of parts) {
      p += '/' + part;
      this.dirs.add(p);
    }
  }

  /** Sets a file's content directly (as the kernel would change it), without recording. */
  set(path: string, content: string): this {
    this.files.set(path, content);
    return this;
  }

  /** Makes the next `times` operations `op` on `path` fail with `code` (e.g. 'EBUSY'). */
  failNext(op: FakeOp['op'], path: string, code: string, times = 1): this {
    this.failures.push({ op, path, code, times });
    return this;
  }

  /** The recorded writes as "path=data" strings, in order. */
  writes(): string[] {
    return this.log.filter((o) => o.op === 'write').map((o) => `${o.path}=${o.data}`);
  }

  /** Fires the watchers of `path`, as an inotify event would. */
  notify(path: string): void {
    for (const fn of this.watchers.get(path) ?? []) fn();
  }

  private maybeFail(op: FakeOp['op'], path: string, syscall: string): void {
    const i = this.failures.findIndex((f) => f.op === op && f.path === path && f.times > 0);
    if (i < 0) return;
    const f = this.failures[i];
    f.times--;
    if (f.times === 0) this.failures.splice(i, 1);
    throw errnoError(f.code, syscall, path);
  }

  readFile(path: string): string {
    this.log.push({ op: 'read', path });
    this.maybeFail('read', path, 'open');
    const c = this.files.get(path);
    if (c === undefined) throw errnoError(this.dirs.has(path) ? 'EISDIR' : 'ENOENT', 'open', path);
    return c;
  }

  writeFile(path: string, data: string): void {
    this.log.push({ op: 'write', path, data });
    this.maybeFail('write', path, 'write');
    const c = this.files.get(path);
    if (c === undefined) throw errnoError('ENOENT', 'open', path);
    if (path.endsWith('/cgroup.subtree_control')) {
      const set = new Set(c.split(/\s+/).filter(Boolean));
      for (const tok of data.split(/\s+/).filter(Boolean)) {
        if (tok.startsWith('+')) set.add(tok.slice(1));
        else if (tok.startsWith('-')) set.delete(tok.slice(1));
      }
      this.files.set(path, [...set].join(' ') + '\n');
    } else {
      this.files.set(path, data);
    }
  }

  mkdir(path: string): void {
    this.log.push({ op: 'mkdir', path });
    this.maybeFail('mkdir', path, 'mkdir');
    if (this.dirs.has(path) || this.files.has(path)) throw errnoError('EEXIST', 'mkdir', path);
    if (!this.dirs.has(parentOf(path))) throw errnoError('ENOENT', 'mkdir', path);
    this.dirs.add(path);
    for (const [root, template] of this.templates) {
      if (path.startsWith(root + '/')) {
        for (const [name, content] of Object.entries(template(path))) this.files.set(`${path}/${name}`, content);
        break;
      }
    }
  }

  rmdir(path: string): void {
    this.log.push({ op: 'rmdir', path });
    this.maybeFail('rmdir', path, 'rmdir');
    if (!this.dirs.has(path)) throw errnoError('ENOENT', 'rmdir', path);
    if (this.readdir(path).length > 0) throw errnoError('EBUSY', 'rmdir', path);
    this.dirs.delete(path);
    for (const f of [...this.files.keys()]) if (parentOf(f) === path) this.files.delete(f);
  }

  exists(path: string): boolean {
    return this.dirs.has(path) || this.files.has(path);
  }

  readdir(path: string): string[] {
    if (!this.dirs.has(path)) throw errnoError('ENOENT', 'scandir', path);
    const out: string[] = [];
    for (const d of this.dirs) if (d !== path && parentOf(d) === path) out.push(d.slice(path.length + 1));
    return out.sort();
  }

  watch(path: string, onChange: () => void): () => void {
    let set = this.watchers.get(path);
    if (!set) this.watchers.set(path, (set = new Set()));
    set.add(onChange);
    return () => set.delete(onChange);
  }

  /** How many watchers `path` has (to check that stop functions work). */
  watcherCount(path: string): number {
    return this.watchers.get(path)?.size ?? 0;
  }
}
