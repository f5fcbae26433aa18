/**
 * Overlay sanity: two unpacked layers (the second with a whiteout, an opaque dir and a cross-layer
 * hardlink) mounted as an overlay in a PRIVATE mount namespace (unshare -m, private propagation;
 * never in the host namespace), and the merged listing checked.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, it } from 'node:test';
import { resolveCrossLayerHardlinks } from '../../agent/store/hardlinks';
import { LayerUnpacker, type UnpackResult } from '../../agent/store/unpack';
import { TarWriter, type TarWriteHeader } from '../../agent/oci/tarWriter';

const root = mkdtempSync(join(tmpdir(), 'berth-overlay-'));
after(() => rmSync(root, { recursive: true, force: true }));

function tarOf(entries: Array<[TarWriteHeader, string?]>): Buffer {
  const w = new TarWriter();
  for (const [h, c] of entries) w.addEntry(h, c === undefined ? undefined : Buffer.from(c));
  return w.finish();
}

async function unpack(dir: string, blob: Buffer): Promise<UnpackResult> {
  mkdirSync(dir);
  const u = new LayerUnpacker(dir);
  await u.write(blob);
  return u.finish();
}

it('two layers mount as overlay with whiteouts and opaque dirs honoured', async () => {
  const l1 = join(root, 'l1');
  const l2 = join(root, 'l2');
  const mnt = join(root, 'mnt');
  mkdirSync(mnt);
  await unpack(
    l1,
    gzipSync(
      tarOf([
        [{ name: 'etc/', type: 'dir' }],
        [{ name: 'etc/passwd' }, 'root:x:0:0\n'],
        [{ name: 'etc/hostname' }, 'box\n'],
        [{ name: 'opq/', type: 'dir' }],
        [{ name: 'opq/old1' }, '1'],
        [{ name: 'opq/old2' }, '2'],
        [{ name: 'bin/busybox', mode: 0o755 }, 'BB'],
      ]),
    ),
  );
  const r2 = await unpack(
    l2,
    tarOf([
      [{ name: 'etc/', type: 'dir' }],
      [{ name: 'etc/.wh.passwd' }, ''],
      [{ name: 'opq/', type: 'dir' }],
      [{ name: 'opq/.wh..wh..opq' }, ''],
      [{ name: 'opq/new' }, 'fresh'],
      [{ name: 'bin/sh', type: 'hardlink', linkname: 'bin/busybox' }],
    ]),
  );
  resolveCrossLayerHardlinks(l2, r2.pendingHardlinks, [l1]);
  const script = `mount -t overlay overlay -o lowerdir=${l2}:${l1} ${mnt} && cd ${mnt} && ls -A etc && echo -- && ls -A opq && echo -- && cat opq/new bin/sh`;
  const out = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8' });
  const [etc, opq, content] = out.split('--\n');
  assert.deepEqual(etc.trim().split('\n'), ['hostname'], 'the whited-out passwd is gone');
  assert.deepEqual(opq.trim().split('\n'), ['new'], 'the opaque dir hides the lower contents');
  assert.equal(content.trim(), 'freshBB');
  // The mount lived only in the child's namespace.
  assert.equal(execFileSync('ls', ['-A', mnt], { encoding: 'utf8' }), '');
});
