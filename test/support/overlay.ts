/**
 * The merged view of layer dirs as the Linux kernel's overlayfs presents it, read inside a private
 * mount namespace (`unshare -m --propagation private`), so nothing is ever mounted on the host.
 *
 * Lower dirs must be in overlayfs's own format: whiteouts are 0:0 character devices and opaque
 * dirs carry the xattr trusted.overlay.opaque="y" (not the OCI `.wh.` files).
 */
import { lstat, mkdir, readdir, rm, symlink, utimes } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { native } from '../../native';
import type { TreeSnapshot } from './tree';
import { makeTempDir, removeTempDir, requireTools, run } from './tmp';

const REPO_ROOT = resolve(__dirname, '..', '..');
/** overlayfs's limit on lower layers. */
const MAX_LOWERS = 500;

/**
 * Mounts a read-only overlay of `lowerDirsTopFirst` (lowers only: no upper or work dir) in a
 * private mount namespace and returns snapshotTree of the merged view. A single lower dir gets an
 * empty dir under it, since overlayfs wants two lowers when there is no upper.
 */
export async function snapshotOverlay(lowerDirsTopFirst: string[]): Promise<TreeSnapshot> {
  requireTools(['unshare', 'mount']);
  if (lowerDirsTopFirst.length === 0) throw new Error('snapshotOverlay: no lower dirs');
  if (lowerDirsTopFirst.length > MAX_LOWERS) throw new Error(`snapshotOverlay: overlayfs takes at most ${MAX_LOWERS} lower dirs`);
  const dir = await makeTempDir('berth-ovl-');
  try {
    const links = join(dir, 'l');
    const mnt = join(dir, 'm');
    await mkdir(links);
    await mkdir(mnt);
    const lowers = lowerDirsTopFirst.map((d) => resolve(d));
    if (lowers.length === 1) {
      await mkdir(join(dir, 'empty'));
      lowers.push(join(dir, 'empty'));
    }
    for (let i = 0; i < lowers.length; i++) await symlink(lowers[i], join(links, String(i)));
    const out = await run(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        process.execPath,
        '--import',
        'tsx',
        join(__dirname, 'overlaySnapshot.ts'),
        mnt,
        links,
        String(lowers.length),
      ],
      { cwd: REPO_ROOT, timeoutMs: 120_000 },
    );
    return JSON.parse(out.toString()) as TreeSnapshot;
  } finally {
    await removeTempDir(dir);
  }
}

/**
 * A reference unpacker for comparisons, independent of Berth and umoci: extracts one layer's
 * uncompressed tar into `dir` with GNU tar (owners, modes, xattrs, devices, mtimes), then turns OCI
 * whiteouts into overlayfs's: `.wh.NAME` becomes a 0:0 character device NAME, `.wh..wh..opq` becomes
 * trusted.overlay.opaque="y" on its directory. Stack such dirs with {@link snapshotOverlay}.
 */
export async function extractLayerForOverlay(tar: Buffer, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '--same-owner', '-p', '-C', dir, '-xf', '-'], { input: tar });
  const found: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d)) {
      const p = join(d, name);
      if (name.startsWith('.wh.')) found.push(p);
      else if ((await lstat(p)).isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  for (const p of found) {
    const name = p.slice(dirname(p).length + 1);
    const parent = dirname(p);
    // Keep the parent's mtime as tar restored it: read before, restore after.
    const { atime, mtime } = await lstat(parent);
    await rm(p);
    if (name === '.wh..wh..opq') native().lsetxattr(parent, 'trusted.overlay.opaque', Buffer.from('y'));
    else native().mknod(join(parent, name.slice(4)), 0o020000, 0, 0);
    await utimes(parent, atime, mtime);
  }
}
