/**
 * `berth cp [-a] [-L] SRC DEST`, with Docker's rules. One side is `CONTAINER:PATH`, the other a
 * local path or `-` (a tar on stdin or stdout). The agent packs and extracts inside the container
 * (running or stopped); this process packs and extracts on the host side, with the user's own
 * permissions, so the agent never touches the user's files. An archive from a container is
 * extracted with the destination directory as its root (agent/archive/tree.ts): a hostile
 * container's links cannot lead the copy anywhere else on the host.
 *
 * Destination rules (as docker cp):
 *   SRC file  -> DEST missing: written as DEST (its parent must exist; "DEST/" missing is an
 *                error); DEST a file: overwritten; DEST a directory: written into it.
 *   SRC dir   -> DEST missing: created as DEST with SRC's contents; DEST a directory: SRC is
 *                copied into it, or only its contents when SRC ends with "/."; DEST a file: error.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants as C, lstatSync, openSync, realpathSync, statSync, type Stats } from 'node:fs';
import { posix, resolve } from 'node:path';
import { extractTree, packTree, type ExtractOptions } from '../../agent/oci/tree';
import { ByteQueue } from '../../agent/oci/byteQueue';
import {
  ArchiveDataNotification,
  ContainerPathStatRequest,
  ErrorCode,
  GetArchiveRequest,
  PutArchiveRequest,
  WriteArchiveRequest,
  type ContainerPathStat,
} from '../../protocol';
import { flagBool } from '../args';
import { CliError, type Command, type Context } from '../context';
import type { AgentClient } from '../client';

const O_PATH = 0o10000000;
const WRITE_CHUNK = 512 * 1024;

interface Operand {
  container?: string;
  path: string;
}

/** "web:/etc/hosts" is a container path; "/tmp/x", "./a:b", "-" are local (as Docker splits them). */
export function parseOperand(arg: string): Operand {
  if (arg.startsWith('/') || arg.startsWith('.') || arg === '-') return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0 || arg.slice(0, i).includes('/')) return { path: arg };
  const path = arg.slice(i + 1);
  if (!path) throw new CliError(`"${arg}": a container path needs a path after the ":"`);
  return { container: arg.slice(0, i), path: path.startsWith('/') ? path : `/${path}` };
}

/** Where an archive goes: extract into `dir`, renaming its top entry when asked. */
interface Placement {
  dir: string;
  rename?: ExtractOptions['rename'];
}

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** Docker's destination rules, for a source of `srcKind` named `srcBase` (`contents`: "SRC/."). */
export function place(
  dest: string,
  destKind: 'dir' | 'file' | 'missing',
  srcKind: 'dir' | 'other',
  srcBase: string,
  contents: boolean,
  where: string,
): Placement {
  const trailing = dest.endsWith('/');
  const clean = posix.normalize(dest);
  if (destKind === 'dir') return contents ? { dir: clean, rename: { from: srcBase, to: '.' } } : { dir: clean };
  if (destKind === 'file') {
    if (srcKind === 'dir') throw new CliError(`cannot copy a directory to a file: ${where}`);
    if (trailing) throw new CliError(`${where} is not a directory`);
    return { dir: posix.dirname(clean), rename: { from: srcBase, to: posix.basename(clean) } };
  }
  if (trailing && srcKind !== 'dir') throw new CliError(`the destination directory does not exist: ${where}`);
  return { dir: posix.dirname(clean), rename: { from: srcBase, to: posix.basename(clean) } };
}

export const cp: Command = {
  name: 'cp',
  summary: "Copy files between a container and the host: CONTAINER:SRC DEST or SRC CONTAINER:DEST ('-' = a tar on stdin/stdout)",
  operands: 'SRC DEST',
  minArgs: 2,
  maxArgs: 2,
  flags: [
    { name: 'archive', short: 'a', type: 'boolean', help: 'Keep owners (uid/gid) from the source' },
    { name: 'follow-link', short: 'L', type: 'boolean', help: 'Follow a symlink at SRC' },
  ],
  async run(ctx, p) {
    const src = parseOperand(p.args[0]!);
    const dest = parseOperand(p.args[1]!);
    if (src.container && dest.container) throw new CliError('copying between containers is not supported: copy to the host first');
    if (!src.container && !dest.container) throw new CliError('one of SRC and DEST must be a container path (CONTAINER:PATH)');
    const client = await ctx.connect();
    if (src.container) return copyFrom(ctx, client, src as Required<Operand>, dest.path, flagBool(p, 'follow-link'));
    return copyTo(ctx, client, src.path, dest as Required<Operand>, flagBool(p, 'archive'), flagBool(p, 'follow-link'));
  },
};

function containerKind(st: ContainerPathStat): 'dir' | 'other' {
  return st.kind === 'dir' ? 'dir' : 'other';
}

async function copyFrom(ctx: Context, client: AgentClient, src: Required<Operand>, destArg: string, follow: boolean): Promise<number> {
  const st = await client.request(ContainerPathStatRequest.type, { container: src.container, path: src.path, follow });
  const contents = /\/\.$/.test(src.path) && st.kind === 'dir';
  // The agent names entries from the path's base name; following a link means asking for the target.
  const srcBase = posix.basename(posix.normalize(src.path)) || '.';
  const token = randomBytes(8).toString('hex');
  const queue = new ByteQueue();
  const sub = client.connection.onNotification(ArchiveDataNotification.type, (n) => {
    if (n.token === token) void queue.push(Buffer.from(n.data, 'base64')).catch(() => undefined);
  });
  try {
    if (destArg === '-') {
      const got = client.request(GetArchiveRequest.type, { container: src.container, path: src.path, token });
      void got.then(
        () => queue.end(),
        (e: Error) => queue.fail(e),
      );
      for await (const chunk of queue) await writeStdout(chunk);
      await got;
      return 0;
    }
    const destAbs = resolve(ctx.io.cwd, destArg);
    let destKind: 'dir' | 'file' | 'missing' = 'missing';
    try {
      destKind = statSync(destAbs).isDirectory() ? 'dir' : 'file';
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') throw new CliError(`${destArg}: ${(e as Error).message}`);
    }
    const where = destArg + (destArg.endsWith('/') && !destAbs.endsWith('/') ? '/' : '');
    const placement = place(destArg.endsWith('/') ? `${destAbs}/` : destAbs, destKind, containerKind(st), srcBase, contents, where);
    let rootFd: number;
    try {
      rootFd = openSync(placement.dir, O_PATH | C.O_DIRECTORY);
    } catch (e) {
      throw new CliError(`${placement.dir}: ${errnoCode(e) === 'ENOENT' ? 'no such directory' : (e as Error).message}`);
    }
    try {
      const got = client.request(GetArchiveRequest.type, { container: src.container, path: src.path, token });
      void got.then(
        () => queue.end(),
        (e: Error) => queue.fail(e),
      );
      // The destination directory is the root: nothing in the archive reaches outside it.
      await extractTree(rootFd, '/', queue, 'copy from container', { rename: placement.rename });
      const r = await got;
      ctx.io.stdout(`Successfully copied ${r.bytes} bytes to ${destArg}\n`);
      return 0;
    } finally {
      closeSync(rootFd);
    }
  } finally {
    sub.dispose();
  }
}

function writeStdout(b: Buffer): Promise<void> {
  return new Promise((res, rej) => process.stdout.write(b, (e) => (e ? rej(e) : res())));
}

async function copyTo(
  ctx: Context,
  client: AgentClient,
  srcArg: string,
  dest: Required<Operand>,
  archive: boolean,
  follow: boolean,
): Promise<number> {
  let source: AsyncIterable<Buffer>;
  let placement: Placement;
  if (srcArg === '-') {
    const st = await client.request(ContainerPathStatRequest.type, { container: dest.container, path: dest.path, follow: true });
    if (st.kind !== 'dir')
      throw new CliError(`${dest.container}:${dest.path} is not a directory (a tar from stdin is extracted into a directory)`);
    source = process.stdin as AsyncIterable<Buffer>;
    placement = { dir: dest.path };
  } else {
    let srcAbs = resolve(ctx.io.cwd, srcArg);
    let st: Stats;
    try {
      if (follow) srcAbs = realpathSync(srcAbs);
      st = lstatSync(srcAbs);
    } catch (e) {
      throw new CliError(`${srcArg}: ${errnoCode(e) === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
    const contents = /\/\.$/.test(srcArg) && st.isDirectory();
    const base = posix.basename(srcAbs) || '.';
    let destKind: 'dir' | 'file' | 'missing' = 'missing';
    try {
      const d = await client.request(ContainerPathStatRequest.type, { container: dest.container, path: dest.path, follow: true });
      destKind = d.kind === 'dir' ? 'dir' : 'file';
    } catch (e) {
      if ((e as { code?: number }).code !== ErrorCode.NotFound) throw e;
    }
    placement = place(dest.path, destKind, st.isDirectory() ? 'dir' : 'other', base, contents, `${dest.container}:${dest.path}`);
    const parentFd = openSync(posix.dirname(srcAbs), O_PATH | C.O_DIRECTORY);
    source = (async function* () {
      try {
        yield* packTree(parentFd, `/${base}`, 'copy to container');
      } finally {
        closeSync(parentFd);
      }
    })();
  }
  const token = randomBytes(8).toString('hex');
  const put = client.request(PutArchiveRequest.type, {
    container: dest.container,
    path: placement.dir,
    token,
    rename: placement.rename,
    copyUIDGID: archive,
  });
  let failed = false;
  void put.catch(() => (failed = true));
  let bytes = 0;
  let pending: Buffer[] = [];
  let size = 0;
  const send = async (eof: boolean) => {
    if (failed) return;
    const data = pending.length ? Buffer.concat(pending).toString('base64') : undefined;
    pending = [];
    size = 0;
    try {
      await client.request(WriteArchiveRequest.type, { token, data, eof });
    } catch {
      failed = true; // the put's own answer says why
    }
  };
  for await (const chunk of source) {
    if (failed) break;
    pending.push(chunk);
    size += chunk.length;
    bytes += chunk.length;
    if (size >= WRITE_CHUNK) await send(false);
  }
  await send(true);
  await put;
  ctx.io.stdout(`Successfully copied ${bytes} bytes to ${dest.container}:${dest.path}\n`);
  return 0;
}
