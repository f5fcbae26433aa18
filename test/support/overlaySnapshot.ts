/**
 * Runs inside a private mount namespace (spawned by overlay.ts under `unshare -m`): mounts a
 * read-only overlay of the given lower dirs and prints snapshotTree of the merged view as JSON.
 *
 *   node --import tsx test/support/overlaySnapshot.ts MOUNTPOINT LINKDIR N
 *
 * LINKDIR holds symlinks "0".."N-1" to the lower dirs, top first; lowerdir is given relative to it
 * ("0:1:..."), which keeps the mount options short however many layers there are.
 */
import { execFileSync } from 'node:child_process';
import { snapshotTree } from './tree';

async function main(): Promise<void> {
  const [mountpoint, linkDir, countText] = process.argv.slice(2);
  const count = Number(countText);
  if (!mountpoint || !linkDir || !Number.isInteger(count) || count < 2) throw new Error('usage: overlaySnapshot MOUNTPOINT LINKDIR N(>=2)');
  const lowers = Array.from({ length: count }, (_, i) => String(i)).join(':');
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${lowers}`, mountpoint], {
    cwd: linkDir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const snap = await snapshotTree(mountpoint);
  process.stdout.write(JSON.stringify(snap));
  // The namespace (and with it the mount) goes away when this process exits.
}

main().catch((e: unknown) => {
  process.stderr.write(`overlaySnapshot: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
