/**
 * The build context: a directory on the agent's machine that COPY and ADD read from, named by the
 * client by its absolute path.
 *
 * Security. The agent is root; the client may not be. The context is read on the client's
 * behalf, so it may only read what the client could read itself:
 * - the context directory must be reachable by the client (every directory above it searchable)
 *   and readable and searchable by it (`checkCallerAccess` and mode bits, ACLs not consulted);
 * - every directory listed must be readable and searchable by the client, every file read must be
 *   readable by it, else the build fails with PermissionDenied naming the path. Root (and stdio
 *   clients, which the agent's spawner owns) may read anything in the context.
 * - Nothing outside the context is ever read: paths are resolved component by component with
 *   lstat, symlinks as paths inside the context (an absolute target starts again at the context
 *   root, `..` stops there); files and directories are opened with O_NOFOLLOW and the opened
 *   descriptor's path (/proc/self/fd) must be exactly the path that was resolved, so a directory
 *   swapped for a symlink between the check and the open is refused; directories are listed
 *   through their verified descriptor. Symlinks inside copied directories are copied as symlinks
 *   (their targets are never read), as Docker does.
 *
 * `.dockerignore` at the context root follows Docker's rules: one pattern a line, `#` comments,
 * `!` re-includes, patterns are cleaned paths relative to the root (a leading `/` dropped), `*`,
 * `?`, `[...]` and `\` as in Go's filepath.Match, `**` for any number of directories; a path is
 * excluded when the last pattern matching it or one of its parent directories is not a `!` one.
 */
import {
  closeSync,
  constants as fsc,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import type { PeerCred } from '../../native';
import { BerthError, ErrorCode, isErrno, systemError, unlessErrno } from '../errors';
import { callerGroups, checkCallerAccess, modeAllows } from '../images/access';

/** Largest .dockerignore read, in bytes. */
export const MAX_DOCKERIGNORE_BYTES = 1024 * 1024;
/** How many symlinks one lookup may follow (Linux's limit). */
const MAX_LINKS = 40;

// ---------------------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------------------

interface IgnorePattern {
  re: RegExp;
  exclusion: boolean;
  /** Components in the pattern, to match parents of the same depth. */
  depth: number;
}

/** Lexically cleans a relative path: no empty, "." components; ".." pops (never above the root). */
export function cleanRelative(p: string): string {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out.join('/');
}

/** The regular expression of one .dockerignore pattern (Docker's translation). */
function ignoreRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') i++;
        re += i + 1 >= pattern.length ? '.*' : '(.*/)?';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = classEnd(pattern, i);
      if (end < 0) re += '\\[';
      else {
        re += classRegExp(pattern.slice(i + 1, end));
        i = end;
      }
    } else if (c === '\\') {
      i++;
      if (i < pattern.length) re += escapeRe(pattern[i]);
    } else re += escapeRe(c);
  }
  return new RegExp(re + '$', 's');
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

/** Index of the `]` closing the class opened at `start`, or -1. */
function classEnd(p: string, start: number): number {
  let i = start + 1;
  if (p[i] === '^' || p[i] === '!') i++;
  if (p[i] === ']') i++;
  for (; i < p.length; i++) {
    if (p[i] === '\\') i++;
    else if (p[i] === ']') return i;
  }
  return -1;
}

function classRegExp(body: string): string {
  let out = '[';
  let i = 0;
  if (body[0] === '^' || body[0] === '!') {
    out += '^';
    i = 1;
  }
  for (; i < body.length; i++) {
    const c = body[i];
    if (c === '\\' && i + 1 < body.length) out += `\\${body[++i]}`;
    else if (c === '-') out += '-';
    else out += /[\]\\^[]/.test(c) ? `\\${c}` : c;
  }
  return out + ']';
}

/** Docker's .dockerignore rules (see the module comment). */
export class IgnoreMatcher {
  private readonly patterns: IgnorePattern[] = [];

  constructor(text = '') {
    for (const raw of text.split('\n')) {
      let line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const exclusion = line.startsWith('!');
      if (exclusion) line = line.slice(1).trim();
      const clean = cleanRelative(line);
      if (clean === '') continue;
      this.patterns.push({ re: ignoreRegExp(clean), exclusion, depth: clean.split('/').length });
    }
  }

  /** True when some `!` pattern exists (then an excluded directory may still hold included files). */
  get hasExclusions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** True when `rel` (a cleaned path relative to the root, not "") is excluded. */
  excludes(rel: string): boolean {
    if (rel === '') return false;
    let excluded = false;
    const parts = rel.split('/');
    for (const p of this.patterns) {
      let match = p.re.test(rel);
      if (!match && parts.length > 1) {
        for (let n = Math.min(p.depth, parts.length - 1); n >= 1 && !match; n--) match = p.re.test(parts.slice(0, n).join('/'));
      }
      if (match) excluded = !p.exclusion;
    }
    return excluded;
  }
}

/** True when a COPY source holds wildcards (`*`, `?`, `[`). */
export function hasWildcards(p: string): boolean {
  return /[*?[]/.test(p);
}

/** One path component of a COPY source pattern, as Go's filepath.Match reads it. */
export function globComponent(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = classEnd(pattern, i);
      if (end < 0) throw new SyntaxError(`bad pattern "${pattern}": unterminated [`);
      re += classRegExp(pattern.slice(i + 1, end));
      i = end;
    } else if (c === '\\') {
      i++;
      if (i < pattern.length) re += escapeRe(pattern[i]);
    } else re += escapeRe(c);
  }
  return new RegExp(re + '$', 's');
}

// ---------------------------------------------------------------------------------------------
// The context directory
// ---------------------------------------------------------------------------------------------

export interface ContextEntry {
  /** Relative to the context root, cleaned ("src/a.txt"); "" for the root. */
  rel: string;
  /** The host path (under the context's real path). */
  abs: string;
  /** lstat of `abs`. */
  st: Stats;
}

export class BuildContext {
  readonly ignore: IgnoreMatcher;
  private readonly groups?: Set<number>;

  private constructor(
    /** The real path of the context directory. */
    readonly root: string,
    private readonly peer: PeerCred | undefined,
    private readonly operation: string,
  ) {
    if (peer && peer.uid !== 0) this.groups = callerGroups(peer);
    this.ignore = new IgnoreMatcher(this.readSmallFile('.dockerignore', MAX_DOCKERIGNORE_BYTES)?.toString('utf8') ?? '');
  }

  /**
   * Opens the context at `dir` (absolute) for `peer`. Throws InvalidArgument when it is not an
   * existing directory, PermissionDenied when the peer may not read it.
   */
  static open(dir: string, peer: PeerCred | undefined, operation = 'build'): BuildContext {
    if (!dir.startsWith('/'))
      throw new BerthError(ErrorCode.InvalidArgument, `${operation}: the context "${dir}" must be an absolute path`, {
        operation,
        path: dir,
      });
    checkCallerAccess(operation, dir, 'read', peer);
    let real: string;
    try {
      real = realpathSync(dir);
    } catch (e) {
      throw new BerthError(ErrorCode.InvalidArgument, `${operation}: the context ${dir} does not exist`, {
        operation,
        path: dir,
        errno: (e as NodeJS.ErrnoException).code,
      });
    }
    const st = lstatSync(real);
    if (!st.isDirectory())
      throw new BerthError(ErrorCode.InvalidArgument, `${operation}: the context ${dir} is not a directory`, { operation, path: dir });
    const ctx = new BuildContext(real, peer, operation);
    ctx.checkAccess({ rel: '', abs: real, st });
    return ctx;
  }

  private deny(path: string, why: string): never {
    throw new BerthError(
      ErrorCode.PermissionDenied,
      `${this.operation}: permission denied: uid ${this.peer!.uid} may not read ${path} of the build context (${why})`,
      {
        operation: this.operation,
        path,
      },
    );
  }

  /** Throws PermissionDenied when the client may not read `e` (files: r, directories: r and x). */
  checkAccess(e: ContextEntry): void {
    if (!this.groups || !this.peer) return;
    if (e.st.isDirectory()) {
      if (!modeAllows(e.st, this.peer, this.groups, 5)) this.deny(e.abs, 'the directory is not readable and searchable for it');
    } else if (e.st.isFile()) {
      if (!modeAllows(e.st, this.peer, this.groups, 4)) this.deny(e.abs, 'the file is not readable for it');
    }
  }

  private absOf(components: readonly string[]): string {
    return components.length ? join(this.root, ...components) : this.root;
  }

  /** The entry at `components` (symlink-free, except perhaps the last, which is not followed). */
  private lstatAt(components: readonly string[]): ContextEntry | undefined {
    const abs = this.absOf(components);
    try {
      return { rel: components.join('/'), abs, st: lstatSync(abs) };
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR', 'ENAMETOOLONG')) return undefined;
      throw e;
    }
  }

  /**
   * Resolves `path` (relative to the context root; a leading "/" is the root) inside the context,
   * following symlinks as paths inside it (see the module comment); every directory passed through
   * must be searchable by the client. Undefined when it does not exist.
   */
  resolve(path: string, followLast = true): ContextEntry | undefined {
    let pending = path.split('/').filter((c) => c !== '' && c !== '.');
    const done: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const c = pending.shift()!;
      if (c === '..') {
        done.pop();
        continue;
      }
      const e = this.lstatAt([...done, c]);
      if (!e) return undefined;
      if (e.st.isSymbolicLink() && (pending.length > 0 || followLast)) {
        if (++links > MAX_LINKS) return undefined;
        const target = readlinkSync(e.abs);
        if (target.startsWith('/')) done.length = 0;
        pending = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...pending];
        continue;
      }
      if (pending.length > 0) {
        if (!e.st.isDirectory()) return undefined;
        if (this.groups && this.peer && !modeAllows(e.st, this.peer, this.groups, 1))
          this.deny(e.abs, 'the directory is not searchable for it');
      }
      done.push(c);
    }
    return this.lstatAt(done);
  }

  /** The names in the directory `e` (sorted bytewise), listed through a verified descriptor. */
  list(e: ContextEntry): string[] {
    this.checkAccess(e);
    const fd = this.openVerified(e.abs, fsc.O_RDONLY | fsc.O_DIRECTORY);
    try {
      return readdirSync(`/proc/self/fd/${fd}`).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    } catch (err) {
      throw systemError(this.operation, err, { path: e.abs });
    } finally {
      closeSync(fd);
    }
  }

  /** The child `name` of directory `dir`, not followed. */
  child(dir: ContextEntry, name: string): ContextEntry | undefined {
    return this.lstatAt(dir.rel === '' ? [name] : [...dir.rel.split('/'), name]);
  }

  /**
   * Every entry below `dir` (not `dir` itself), parents before children, sorted by name within a
   * directory, without the ones .dockerignore excludes (a directory excluded is still walked when
   * a `!` pattern could bring back something below it). Symlinks are entries, never followed.
   */
  walk(dir: ContextEntry, visit: (e: ContextEntry) => void, signal?: AbortSignal): void {
    const rec = (d: ContextEntry) => {
      for (const name of this.list(d)) {
        signal?.throwIfAborted();
        const e = this.child(d, name);
        if (!e) continue;
        const excluded = this.ignore.excludes(e.rel);
        if (!excluded) visit(e);
        if (e.st.isDirectory() && (!excluded || this.ignore.hasExclusions)) rec(e);
      }
    };
    rec(dir);
  }

  /**
   * Entries matching a wildcard pattern (relative to the root), sorted, each component matched as
   * Go's filepath.Match does, symlinks in the pattern's directories followed inside the context.
   * Excluded entries are left out.
   */
  glob(pattern: string): ContextEntry[] {
    const parts = cleanRelative(pattern).split('/').filter(Boolean);
    let current: ContextEntry[] = [this.lstatAt([])!];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      const last = i === parts.length - 1;
      const next: ContextEntry[] = [];
      for (const dir of current) {
        if (!hasWildcards(part)) {
          const e = this.resolve(dir.rel ? `${dir.rel}/${part}` : part, !last);
          if (e && (last || e.st.isDirectory())) next.push(e);
          continue;
        }
        const re = globComponent(part);
        for (const name of this.list(dir)) {
          if (!re.test(name)) continue;
          const e = this.child(dir, name);
          if (!e) continue;
          if (last) next.push(e);
          else {
            const r = this.resolve(e.rel, true);
            if (r?.st.isDirectory()) next.push(r);
          }
        }
      }
      current = next;
    }
    return current.filter((e) => !this.ignore.excludes(e.rel));
  }

  /**
   * Opens `abs` with O_NOFOLLOW and checks the descriptor's path is exactly `abs` (not swapped
   * since it was resolved). Returns the fd.
   */
  openVerified(abs: string, flags: number): number {
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO put in place of a file must not block the agent in open().
      fd = openSync(abs, flags | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch (err) {
      throw systemError(this.operation, err, { path: abs });
    }
    // Without /proc the path cannot be confirmed: '' differs from it, so the check below refuses.
    const real = unlessErrno(['ENOENT', 'EACCES'], () => readlinkSync(`/proc/self/fd/${fd}`)) ?? '';
    if (real !== abs) {
      closeSync(fd);
      throw new BerthError(
        ErrorCode.PermissionDenied,
        `${this.operation}: ${abs} changed while the build context was read (it now leads to ${real || 'an unknown place'})`,
        {
          operation: this.operation,
          path: abs,
        },
      );
    }
    return fd;
  }

  /**
   * Opens the regular file `e` for reading (checked: readable by the client, not swapped). Returns
   * the fd and its size at open.
   */
  openFile(e: ContextEntry): { fd: number; size: number } {
    this.checkAccess(e);
    const fd = this.openVerified(e.abs, fsc.O_RDONLY);
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      throw new BerthError(ErrorCode.InvalidArgument, `${this.operation}: ${e.abs} is not a regular file`, {
        operation: this.operation,
        path: e.abs,
      });
    }
    return { fd, size: st.size };
  }

  /** A small file at the context root (the .dockerignore), or undefined when there is none. */
  readSmallFile(name: string, max: number): Buffer | undefined {
    const e = this.lstatAt([name]);
    if (!e || !e.st.isFile()) return undefined;
    const { fd, size } = this.openFile(e);
    try {
      if (size > max)
        throw new BerthError(ErrorCode.InvalidArgument, `${this.operation}: ${e.abs} is larger than ${max} bytes`, {
          operation: this.operation,
          path: e.abs,
        });
      const buf = Buffer.alloc(size);
      let off = 0;
      while (off < size) {
        const n = readSync(fd, buf, off, size - off, off);
        if (n === 0) break;
        off += n;
      }
      return buf.subarray(0, off);
    } finally {
      closeSync(fd);
    }
  }
}
