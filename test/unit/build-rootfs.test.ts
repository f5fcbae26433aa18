/**
 * The merged view builds read stage files through (agent/builder/rootfs.ts): layers unpacked by the
 * project's own unpacker (whiteouts as 0/0 devices, opaque directories as xattrs), then listed
 * and resolved as overlayfs would show them, symlinks resolved inside the tree only. Needs root
 * (the unpacker makes device nodes and trusted.* xattrs), as the integration tests do.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MergedTree } from '../../agent/builder/rootfs';
import { LayerUnpacker } from '../../agent/store/unpack';
import { TarWriter, type TarWriteHeader } from '../../agent/oci/tarWriter';

const root = mkdtempSync(join(tmpdir(), 'berth-merged-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function layer(name: string, entries: Array<[TarWriteHeader, string?]>): Promise<string> {
  const w = new TarWriter();
  for (const [h, c] of entries) w.addEntry(h, c === undefined ? undefined : Buffer.from(c));
  const dir = join(root, name);
  mkdirSync(dir);
  const u = new LayerUnpacker(dir);
  await u.write(w.finish());
  await u.finish();
  return dir;
}

describe('MergedTree', () => {
  it('whiteouts, opaque directories, files over directories, symlinks inside the tree', async () => {
    const l1 = await layer('l1', [
      [{ name: 'etc/', type: 'dir' }],
      [{ name: 'etc/passwd' }, 'root\n'],
      [{ name: 'gone' }, 'x'],
      [{ name: 'opq/', type: 'dir' }],
      [{ name: 'opq/old' }, 'old'],
      [{ name: 'dir/', type: 'dir' }],
      [{ name: 'dir/inner' }, 'inner'],
      [{ name: 'usr/bin/', type: 'dir' }],
      [{ name: 'usr/bin/tool' }, 'tool'],
      [{ name: 'bin', type: 'symlink', linkname: 'usr/bin' }],
      [{ name: 'escape', type: 'symlink', linkname: '../../../../etc' }],
    ]);
    const l2 = await layer('l2', [
      [{ name: '.wh.gone' }],
      [{ name: 'opq/', type: 'dir' }],
      [{ name: 'opq/.wh..wh..opq' }],
      [{ name: 'opq/new' }, 'new'],
      [{ name: 'dir', type: 'file' }, 'now a file'],
      [{ name: 'etc/', type: 'dir' }],
      [{ name: 'etc/hosts' }, 'hosts'],
    ]);
    const t = new MergedTree([l2, l1]);
    assert.deepEqual(t.list([]), ['bin', 'dir', 'escape', 'etc', 'opq', 'usr']);
    assert.deepEqual(t.list(['opq']), ['new']);
    assert.deepEqual(t.list(['etc']), ['hosts', 'passwd']);
    assert.equal(t.lstat(['gone']), undefined);
    assert.equal(t.lstat(['opq', 'old']), undefined);
    assert.equal(t.lstat(['dir', 'inner']), undefined, 'a file hides what a lower layer had below its name');
    assert.equal(t.lstat(['dir'])!.st.isFile(), true);
    assert.equal(readFileSync(t.lstat(['etc', 'passwd'])!.host, 'utf8'), 'root\n');
    const viaLink = t.resolve('/bin/tool', true);
    assert.deepEqual(viaLink.components, ['usr', 'bin', 'tool']);
    assert.equal(readFileSync(viaLink.entry!.host, 'utf8'), 'tool');
    // ".." stops at the root: /escape -> /etc inside the tree, never the host's /etc.
    const esc = t.resolve('/escape/hosts', true);
    assert.deepEqual(esc.components, ['etc', 'hosts']);
    assert.equal(readFileSync(esc.entry!.host, 'utf8'), 'hosts');
    assert.deepEqual(t.resolve('/bin/missing/deeper', true), { components: ['usr', 'bin', 'missing', 'deeper'] });
    assert.throws(() => t.resolve('/dir/x', true), /ENOTDIR/);
  });
});
