/**
 * Applying layers in overlay form, as root, into temp dirs: metadata, whiteouts, opaque dirs,
 * hardlinks (within and across layers), compression detection and the diffID.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { native } from '../../native';
import { ErrorCode, isBerthError } from '../../agent/errors';
import { resolveCrossLayerHardlinks } from '../../agent/store/hardlinks';
import { LayerUnpacker, type UnpackResult } from '../../agent/store/unpack';
import { TarWriter, type TarWriteHeader } from '../../agent/oci/tarWriter';
import { decompressingSource } from '../../agent/oci/decompress';

const root = mkdtempSync(join(tmpdir(), 'berth-unpack-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function freshDir(): string {
  const d = join(root, `l${n++}`);
  mkdirSync(d);
  return d;
}

function tarOf(entries: Array<[TarWriteHeader, (Buffer | string)?]>): Buffer {
  const w = new TarWriter();
  for (const [h, c] of entries) w.addEntry(h, c === undefined ? undefined : Buffer.from(c));
  return w.finish();
}

async function unpack(
  dir: string,
  blob: Buffer,
  opts: ConstructorParameters<typeof LayerUnpacker>[1] = {},
  chunk = 65536,
): Promise<UnpackResult> {
  const u = new LayerUnpacker(dir, opts);
  for (let off = 0; off < blob.length; off += chunk) await u.write(blob.subarray(off, off + chunk));
  return u.finish();
}

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
// security.capability v2: cap_net_bind_service (bit 10) permitted + effective.
const CAP = Buffer.alloc(20);
CAP.writeUInt32LE(0x02000001, 0);
CAP.writeUInt32LE(1 << 10, 4);

describe('unpack: metadata', () => {
  it('writes files, dirs, symlinks, devices and FIFOs with owner, mode, mtime and xattrs', async () => {
    const dir = freshDir();
    const tar = tarOf([
      [{ name: 'usr/', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1000 }],
      [{ name: 'usr/bin/', type: 'dir', mode: 0o750, uid: 12, gid: 34, mtime: 2000 }],
      [{ name: 'usr/bin/su', mode: 0o4755, uid: 1234, gid: 5678, mtime: 1600000000.5 }, 'suid binary'],
      [{ name: 'usr/bin/wall', mode: 0o2755, uid: 0, gid: 5, mtime: 3000 }, 'sgid'],
      [
        { name: 'usr/bin/ping', mode: 0o755, mtime: 3000, xattrs: { 'security.capability': CAP, 'user.note': Buffer.from([0, 1, 0xff]) } },
        'ping',
      ],
      [{ name: 'tmp/', type: 'dir', mode: 0o1777, mtime: 4000 }],
      [{ name: 'usr/bin/sh', type: 'symlink', linkname: 'su', uid: 7, gid: 8, mtime: 5000 }],
      [{ name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, mtime: 6000 }],
      [{ name: 'dev/loop0', type: 'block', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 }],
      [{ name: 'run/fifo', type: 'fifo', mode: 0o620 }],
      [{ name: 'empty', mode: 0o600 }, ''],
    ]);
    const res = await unpack(dir, tar);
    const st = (p: string) => lstatSync(join(dir, p));
    assert.equal(st('usr/bin/su').mode & 0o7777, 0o4755, 'setuid survives the chown');
    assert.equal(st('usr/bin/su').uid, 1234);
    assert.equal(st('usr/bin/su').gid, 5678);
    assert.equal(st('usr/bin/su').mtimeMs, 1600000000500);
    assert.equal(readFileSync(join(dir, 'usr/bin/su'), 'utf8'), 'suid binary');
    assert.equal(st('usr/bin/wall').mode & 0o7777, 0o2755);
    assert.equal(st('tmp').mode & 0o7777, 0o1777);
    assert.equal(st('usr/bin').mode & 0o7777, 0o750);
    assert.equal(st('usr/bin').uid, 12);
    assert.equal(st('usr/bin').mtimeMs, 2000 * 1000, 'dir mtime applied after its children');
    assert.equal(st('usr').mtimeMs, 1000 * 1000);
    assert.deepEqual(native().lgetxattr(join(dir, 'usr/bin/ping'), 'security.capability'), CAP);
    assert.deepEqual(native().lgetxattr(join(dir, 'usr/bin/ping'), 'user.note'), Buffer.from([0, 1, 0xff]));
    assert.ok(st('usr/bin/sh').isSymbolicLink());
    assert.equal(readlinkSync(join(dir, 'usr/bin/sh')), 'su');
    assert.equal(st('usr/bin/sh').uid, 7);
    assert.equal(st('usr/bin/sh').mtimeMs, 5000 * 1000);
    assert.ok(st('dev/null').isCharacterDevice());
    assert.equal(st('dev/null').rdev, (1 << 8) | 3);
    assert.equal(st('dev/null').mode & 0o7777, 0o666);
    assert.ok(st('dev/loop0').isBlockDevice());
    assert.equal(st('dev/loop0').rdev, 7 << 8);
    assert.ok(st('run/fifo').isFIFO());
    assert.equal(st('run/fifo').mode & 0o7777, 0o620);
    assert.equal(st('dev').mode & 0o7777, 0o755, 'implicit parents are 0755');
    assert.equal(st('dev').uid, 0);
    assert.equal(st('empty').size, 0);

    assert.equal(res.diffId, sha(tar));
    assert.equal(res.tarSize, tar.length);
    assert.equal(res.size, 'suid binary'.length + 4 + 4);
    assert.deepEqual(res.pendingHardlinks, []);
    const idx = new Map(res.entries.map((e) => [e.path, e]));
    assert.equal(idx.get('usr/bin/su')?.digest, sha('suid binary'));
    assert.equal(idx.get('usr/bin/su')?.mode, 0o4755);
    assert.equal(idx.get('empty')?.digest, sha(''));
    assert.equal(idx.get('usr/bin/sh')?.linkTarget, 'su');
    assert.equal(idx.get('dev/null')?.type, 'char');
    assert.equal(idx.has('dev'), false, 'implicit dirs are not in the index');
  });

  it('a later entry replaces an earlier one; dir over dir updates metadata', async () => {
    const dir = freshDir();
    const res = await unpack(
      dir,
      tarOf([
        [{ name: 'd/', type: 'dir', mode: 0o700 }],
        [{ name: 'd/inner', mode: 0o644 }, 'x'],
        [{ name: 'd/', type: 'dir', mode: 0o711, uid: 5 }],
        [{ name: 'f' }, 'first'],
        [{ name: 'f/', type: 'dir', mode: 0o755 }],
        [{ name: 'f/child' }, 'c'],
        [{ name: 'f', type: 'symlink', linkname: 'elsewhere' }],
        [{ name: 'g', type: 'symlink', linkname: '/nowhere' }],
        [{ name: 'g' }, 'regular now'],
      ]),
    );
    assert.equal(lstatSync(join(dir, 'd')).mode & 0o7777, 0o711);
    assert.equal(lstatSync(join(dir, 'd')).uid, 5);
    assert.equal(readFileSync(join(dir, 'd/inner'), 'utf8'), 'x');
    assert.ok(lstatSync(join(dir, 'f')).isSymbolicLink());
    assert.equal(readFileSync(join(dir, 'g'), 'utf8'), 'regular now');
    assert.deepEqual(
      res.entries.map((e) => [e.path, e.type]),
      [
        ['d/inner', 'file'],
        ['d', 'dir'],
        ['f', 'symlink'],
        ['g', 'file'],
      ],
    );
  });

  it('a root "./" entry sets the layer directory\'s metadata', async () => {
    const dir = freshDir();
    await unpack(dir, tarOf([[{ name: './', type: 'dir', mode: 0o700, uid: 9, mtime: 42 }], [{ name: './a' }, 'a']]));
    assert.equal(statSync(dir).mode & 0o7777, 0o700);
    assert.equal(statSync(dir).uid, 9);
    assert.equal(statSync(dir).mtimeMs, 42000);
  });
});

describe('unpack: whiteouts and opaque directories', () => {
  it('makes 0/0 char devices and trusted.overlay.opaque=y', async () => {
    const dir = freshDir();
    const res = await unpack(
      dir,
      tarOf([
        [{ name: 'etc/', type: 'dir' }],
        [{ name: 'etc/.wh.passwd', uid: 0, gid: 0 }, ''],
        [{ name: '.wh.gone-dir' }, ''],
        [{ name: 'var/', type: 'dir', mode: 0o755 }],
        [{ name: 'var/.wh..wh..opq' }, ''],
        [{ name: 'var/new' }, 'n'],
        [{ name: 'implicit/.wh..wh..opq' }, ''],
        [{ name: '.wh..wh.plnk/', type: 'dir' }],
        [{ name: '.wh..wh.aufs' }, ''],
      ]),
    );
    for (const p of ['etc/passwd', 'gone-dir']) {
      const st = lstatSync(join(dir, p));
      assert.ok(st.isCharacterDevice(), `${p} is a char device`);
      assert.equal(st.rdev, 0);
    }
    assert.equal(existsSync(join(dir, 'etc/.wh.passwd')), false);
    assert.equal(native().lgetxattr(join(dir, 'var'), 'trusted.overlay.opaque')?.toString(), 'y');
    assert.equal(native().lgetxattr(join(dir, 'implicit'), 'trusted.overlay.opaque')?.toString(), 'y');
    assert.equal(native().lgetxattr(join(dir, 'etc'), 'trusted.overlay.opaque'), null);
    assert.equal(existsSync(join(dir, 'var/.wh..wh..opq')), false);
    assert.equal(existsSync(join(dir, '.wh..wh.plnk')), false);
    assert.equal(existsSync(join(dir, '.wh..wh.aufs')), false);
    assert.equal(readFileSync(join(dir, 'var/new'), 'utf8'), 'n');
    const types = Object.fromEntries(res.entries.map((e) => [`${e.path}:${e.type}`, true]));
    assert.ok(types['etc/passwd:whiteout']);
    assert.ok(types['gone-dir:whiteout']);
    assert.ok(types['var:opaque']);
    assert.ok(types['var:dir']);
    assert.ok(types['implicit:opaque']);
  });
});

describe('unpack: hardlinks', () => {
  it('links within the layer share an inode; a link made before an overwrite keeps the old file', async () => {
    const dir = freshDir();
    await unpack(
      dir,
      tarOf([
        [{ name: 'bin/busybox', mode: 0o755 }, 'BB'],
        [{ name: 'bin/sh', type: 'hardlink', linkname: 'bin/busybox' }],
        [{ name: './bin/ls', type: 'hardlink', linkname: './bin/sh' }],
        [{ name: 'a' }, 'old'],
        [{ name: 'h', type: 'hardlink', linkname: '/a' }],
        [{ name: 'a' }, 'new'],
      ]),
    );
    const ino = (p: string) => lstatSync(join(dir, p)).ino;
    assert.equal(ino('bin/sh'), ino('bin/busybox'));
    assert.equal(ino('bin/ls'), ino('bin/busybox'));
    assert.equal(lstatSync(join(dir, 'bin/busybox')).nlink, 3);
    assert.equal(readFileSync(join(dir, 'h'), 'utf8'), 'old');
    assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'new');
  });

  it('resolves hardlinks into lower layers, top first, and refuses deleted targets', async () => {
    const l1 = freshDir();
    await unpack(
      l1,
      tarOf([
        [{ name: 'bin/busybox', mode: 0o4711, uid: 3, gid: 4, mtime: 777, xattrs: { 'user.k': 'v' } }, 'lower busybox'],
        [{ name: 'lib/x' }, 'x1'],
      ]),
    );
    const l2 = freshDir();
    await unpack(l2, tarOf([[{ name: 'lib/x' }, 'x2']]));
    const l3 = freshDir();
    const res = await unpack(
      l3,
      tarOf([
        [{ name: 'bin/sh', type: 'hardlink', linkname: 'bin/busybox' }],
        [{ name: 'bin/ash', type: 'hardlink', linkname: 'bin/busybox' }],
        [{ name: 'bin/ls', type: 'hardlink', linkname: 'bin/sh' }],
        [{ name: 'y', type: 'hardlink', linkname: 'lib/x' }],
      ]),
    );
    assert.deepEqual(res.pendingHardlinks.map((p) => `${p.path}->${p.target}`).sort(), [
      'bin/ash->bin/busybox',
      'bin/ls->bin/busybox',
      'bin/sh->bin/busybox',
      'y->lib/x',
    ]);
    resolveCrossLayerHardlinks(l3, res.pendingHardlinks, [l2, l1]);
    const st = lstatSync(join(l3, 'bin/sh'));
    assert.equal(readFileSync(join(l3, 'bin/sh'), 'utf8'), 'lower busybox');
    assert.equal(st.mode & 0o7777, 0o4711);
    assert.equal(st.uid, 3);
    assert.equal(st.mtimeMs, 777000);
    assert.equal(native().lgetxattr(join(l3, 'bin/sh'), 'user.k')?.toString(), 'v');
    assert.equal(lstatSync(join(l3, 'bin/ash')).ino, st.ino);
    assert.equal(lstatSync(join(l3, 'bin/ls')).ino, st.ino);
    assert.equal(readFileSync(join(l3, 'y'), 'utf8'), 'x2', 'the nearest lower layer wins');
    assert.equal(existsSync(join(l3, 'bin/busybox')), false);

    // A whiteout in between: the target is gone.
    const l4 = freshDir();
    await unpack(l4, tarOf([[{ name: 'bin/.wh.busybox' }, '']]));
    const l5 = freshDir();
    const r5 = await unpack(l5, tarOf([[{ name: 'sh', type: 'hardlink', linkname: 'bin/busybox' }]]));
    assert.throws(
      () => resolveCrossLayerHardlinks(l5, r5.pendingHardlinks, [l4, l1]),
      (e: unknown) => isBerthError(e, ErrorCode.InvalidContent) && e.data.entry === 'sh' && /no lower layer provides/.test(e.message),
    );
    // An opaque dir in between hides it too; a target nobody has is an error.
    const l6 = freshDir();
    await unpack(l6, tarOf([[{ name: 'bin/.wh..wh..opq' }, '']]));
    assert.throws(() => resolveCrossLayerHardlinks(l5, r5.pendingHardlinks, [l6, l1]), /no lower layer provides/);
    assert.throws(() => resolveCrossLayerHardlinks(l5, [{ path: 'sh', target: 'nope' }], [l1]), /no lower layer provides/);
  });
});

describe('unpack: compression and diffID', () => {
  const big = Buffer.alloc(300_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
  const tar = tarOf([
    [{ name: 'a/b', mode: 0o644 }, big],
    [{ name: 'c' }, 'small'],
  ]);
  const check = async (blob: Buffer, chunk?: number) => {
    const dir = freshDir();
    const res = await unpack(dir, blob, {}, chunk);
    assert.equal(res.diffId, sha(tar));
    assert.equal(res.tarSize, tar.length);
    assert.deepEqual(readFileSync(join(dir, 'a/b')), big);
    assert.equal(readFileSync(join(dir, 'c'), 'utf8'), 'small');
  };
  it('plain tar', () => check(tar, 1000));
  it('gzip, fed in small chunks', () => check(gzipSync(tar), 333));
  it('gzip with concatenated members', () => check(Buffer.concat([gzipSync(tar.subarray(0, 100_000)), gzipSync(tar.subarray(100_000))])));
  it('zstd (made by the zstd CLI)', async () => {
    const zst = execFileSync('zstd', ['-q', '-c', '-19'], { input: tar });
    await check(zst, 4096);
    await check(zst, zst.length);
  });
  it('refuses xz and bzip2 with a clear message', async () => {
    for (const [tool, name] of [
      ['xz', 'xz'],
      ['bzip2', 'bzip2'],
    ]) {
      const blob = execFileSync(tool, ['-c'], { input: tar });
      await assert.rejects(
        unpack(freshDir(), blob),
        (e: unknown) => isBerthError(e, ErrorCode.InvalidContent) && e.message.includes(`${name}-compressed`),
      );
    }
  });
  it('a truncated gzip or zstd stream is InvalidContent', async () => {
    const gz = gzipSync(tar);
    await assert.rejects(unpack(freshDir(), gz.subarray(0, gz.length - 20)), (e: unknown) => isBerthError(e, ErrorCode.InvalidContent));
    const zst = execFileSync('zstd', ['-q', '-c'], { input: tar });
    await assert.rejects(unpack(freshDir(), zst.subarray(0, zst.length - 20)), (e: unknown) => isBerthError(e, ErrorCode.InvalidContent));
  });
  it('decompressingSource yields the plain tar for every compression, and enforces maxBytes', async () => {
    const collect = async (blob: Buffer, maxBytes?: number) => {
      const out: Buffer[] = [];
      async function* src() {
        for (let off = 0; off < blob.length; off += 50_000) yield blob.subarray(off, off + 50_000);
      }
      for await (const c of decompressingSource(src(), { maxBytes })) out.push(Buffer.from(c));
      return Buffer.concat(out);
    };
    assert.deepEqual(await collect(tar), tar);
    assert.deepEqual(await collect(gzipSync(tar)), tar);
    assert.deepEqual(await collect(execFileSync('zstd', ['-q', '-c'], { input: tar })), tar);
    await assert.rejects(
      collect(gzipSync(tar), 100_000),
      (e: unknown) => isBerthError(e, ErrorCode.InvalidContent) && /decompression bomb/.test(e.message),
    );
  });
  it('an empty blob is InvalidContent', async () => {
    await assert.rejects(unpack(freshDir(), Buffer.alloc(0)), /empty/);
  });
});

describe('unpack: control and system errors', () => {
  it('aborting through the signal rejects with Cancelled', async () => {
    const ac = new AbortController();
    const u = new LayerUnpacker(freshDir(), { signal: ac.signal, layerDigest: 'sha256:' + 'a'.repeat(64) });
    const gz = gzipSync(tarOf([[{ name: 'f' }, Buffer.alloc(100_000, 1)]]));
    await u.write(gz.subarray(0, 100));
    ac.abort();
    await assert.rejects(u.write(gz.subarray(100)), (e: unknown) => isBerthError(e, ErrorCode.Cancelled));
    await assert.rejects(u.finish(), (e: unknown) => isBerthError(e, ErrorCode.Cancelled));
  });
  it('syscall failures are ErrorCode.System naming the path', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'already'), 'x'); // the directory was not empty
    await assert.rejects(unpack(dir, tarOf([[{ name: 'already' }, 'y']])), (e: unknown) => {
      assert.ok(isBerthError(e, ErrorCode.System));
      assert.equal(e.data.errno, 'EEXIST');
      assert.equal(e.data.path, join(dir, 'already'));
      assert.match(e.message, /^unpack layer: open `.*already`: EEXIST/);
      return true;
    });
  });
  it('malformed tar errors name the layer', async () => {
    const bad = tarOf([[{ name: 'f' }, 'abc']]);
    bad[148] = 0x37; // corrupt the checksum
    await assert.rejects(unpack(freshDir(), bad, { layerDigest: 'sha256:beef' }), (e: unknown) => {
      assert.ok(isBerthError(e, ErrorCode.InvalidContent));
      assert.match(e.message, /^unpack layer sha256:beef: tar header of entry "f" has a bad checksum/);
      return true;
    });
  });
});
