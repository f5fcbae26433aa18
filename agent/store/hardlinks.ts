/**
 * Cross-layer hardlinks: a layer's tar may hardlink to a file that only a lower layer holds. The
 * unpacker (unpack.ts) leaves those pending; once the layers below are committed, they are
 * resolved here against the lower layers' directories (whiteouts, opaque directories and symlinked
 * ancestors honoured) by copying the lower file into this layer, as overlay's copy-up would.
 */
import * as fs from 'node:fs';
import { native } from '../../native';
import { BerthError, ErrorCode, systemError, unlessErrno } from '../errors';
import { OPAQUE_XATTR, printable, type UnpackResult } from './unpack';

/** Errnos of a path a lower layer does not have. */
const GONE = ['ENOENT', 'ENOTDIR'];

/**
 * After the layers below are complete, resolves a layer's hardlinks to files it does not contain:
 * for each target, the nearest lower layer (top first) that has it provides it. A whiteout, an
 * opaque directory or a non-directory ancestor in between means the file is gone (InvalidContent);
 * a symlinked ancestor or a directory target is HostileLayer. The first hardlink to a target gets a
 * copy of the lower file (content, owner, mode, xattrs, mtime; the copy is this layer's own, which
 * is what overlay's copy-up would make of it); further hardlinks to the same target are linked to
 * that copy, so they share an inode as in the tar. Nothing is placed at the target's own path.
 */
export function resolveCrossLayerHardlinks(dir: string, pending: UnpackResult['pendingHardlinks'], lowerDirsTopFirst: string[]): void {
  const byTarget = new Map<string, string[]>();
  for (const { path, target } of pending) {
    const list = byTarget.get(target);
    if (list) list.push(path);
    else byTarget.set(target, [path]);
  }
  for (const [target, links] of byTarget) {
    const entry = links[0];
    const hostile = (why: string) =>
      new BerthError(ErrorCode.HostileLayer, `unpack layer: entry "${printable(entry)}" ${why}`, { operation: 'unpack layer', entry });
    const gone = () =>
      new BerthError(
        ErrorCode.InvalidContent,
        `unpack layer: entry "${printable(entry)}" is a hardlink to "${printable(target)}", which no lower layer provides`,
        {
          operation: 'unpack layer',
          entry,
        },
      );
    // An opaque ancestor in this layer hides the lower layers' file.
    for (const a of ancestors(target)) {
      const v = lgetxattrQuiet(a === '' ? dir : dir + '/' + a);
      if (v === undefined) break;
      if (v) throw gone();
    }
    let src: string | undefined;
    for (const lower of lowerDirsTopFirst) {
      const r = lookupLower(lower, target);
      if (r === 'symlink') throw hostile(`is a hardlink whose target "${printable(target)}" is under a symlinked parent in a lower layer`);
      if (r === 'dir') throw hostile(`is a hardlink to a directory ("${printable(target)}")`);
      if (r === 'gone') throw gone();
      if (r !== 'absent') {
        src = r;
        break;
      }
    }
    if (!src) throw gone();
    const first = dir + '/' + links[0];
    copyNode(src, first);
    for (const l of links.slice(1)) {
      const p = dir + '/' + l;
      try {
        fs.linkSync(first, p);
      } catch (e) {
        throw systemError('unpack layer', e, { path: p, entry: l });
      }
    }
  }
}

/** The directory prefixes of a relative path, root ('') first. */
function ancestors(rel: string): string[] {
  const out = [''];
  for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) out.push(rel.slice(0, i));
  return out;
}

/** 'y'-ness of the opaque xattr: true/false, or undefined when the path does not exist. */
function lgetxattrQuiet(p: string): boolean | undefined {
  const st = unlessErrno(GONE, () => fs.lstatSync(p));
  if (!st?.isDirectory()) return undefined;
  return native().lgetxattr(p, OPAQUE_XATTR)?.toString() === 'y';
}

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Looks `rel` up in one lower layer directory without following symlinks. */
function lookupLower(lower: string, rel: string): string | 'absent' | 'gone' | 'symlink' | 'dir' {
  let opaque = false;
  for (const a of ancestors(rel)) {
    const p = a === '' ? lower : lower + '/' + a;
    const st = unlessErrno(GONE, () => fs.lstatSync(p));
    if (!st) return opaque ? 'gone' : 'absent';
    if (a !== '' && isWhiteout(st)) return 'gone';
    if (st.isSymbolicLink()) return 'symlink';
    if (!st.isDirectory()) return 'gone';
    if (native().lgetxattr(p, OPAQUE_XATTR)?.toString() === 'y') opaque = true;
  }
  const p = lower + '/' + rel;
  const st = unlessErrno(GONE, () => fs.lstatSync(p));
  if (!st) return opaque ? 'gone' : 'absent';
  if (isWhiteout(st)) return 'gone';
  if (st.isDirectory()) return 'dir';
  return p;
}

/** Copies a file, symlink, device or FIFO with its owner, mode, xattrs and mtime. */
function copyNode(src: string, dst: string): void {
  try {
    const st = fs.lstatSync(src);
    if (st.isFile()) {
      fs.copyFileSync(src, dst, fs.constants.COPYFILE_EXCL);
      fs.chownSync(dst, st.uid, st.gid);
      fs.chmodSync(dst, st.mode & 0o7777);
    } else if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(src), dst);
      fs.lchownSync(dst, st.uid, st.gid);
    } else {
      const major = Math.floor(st.rdev / 256) & 0xfff;
      const minor = (st.rdev & 0xff) | ((Math.floor(st.rdev / 4096) & ~0xff) >>> 0);
      native().mknod(dst, st.mode, major, minor);
      fs.lchownSync(dst, st.uid, st.gid);
      fs.chmodSync(dst, st.mode & 0o7777);
    }
    for (const name of native().llistxattr(src)) {
      if (name.startsWith('trusted.overlay.')) continue;
      const v = native().lgetxattr(src, name);
      if (v) native().lsetxattr(dst, name, v);
    }
    fs.lutimesSync(dst, st.atime, st.mtime);
  } catch (e) {
    throw systemError('unpack layer', e, { path: dst });
  }
}
