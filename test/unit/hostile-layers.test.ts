/**
 * The hostile-layer corpus: every layer here tries to write outside its directory (or is malformed
 * in a way that could hurt). Each must fail with HostileLayer or InvalidContent naming the entry,
 * and nothing outside the layer directory may change: each case runs in base/a/layer next to a
 * sentinel directory base/outside whose contents are snapshotted before and compared after.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { ErrorCode, isBerthError } from '../../agent/errors';
import { LayerUnpacker, type UnpackResult } from '../../agent/store/unpack';
import { TarWriter, paxData, rawHeader, type TarWriteHeader } from '../../agent/oci/tarWriter';

const root = mkdtempSync(join(tmpdir(), 'berth-hostile-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

interface Sandbox {
  base: string;
  dir: string;
  outside: string;
}

function sandbox(): Sandbox {
  const base = join(root, `case${n++}`);
  const outside = join(base, 'outside');
  const dir = join(base, 'a', 'layer');
  mkdirSync(outside, { recursive: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(outside, 'keep'), 'original');
  mkdirSync(join(outside, 'sub'));
  return { base, dir, outside };
}

/** Everything under base except the layer dir: path -> type, mode, owner, size, content hash, link. */
function snapshot(s: Sandbox): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    if (p === s.dir) return;
    const st = lstatSync(p);
    let desc = `${st.mode}:${st.uid}:${st.gid}:${st.size}:${st.mtimeMs}:${st.nlink}`;
    if (st.isFile()) desc += ':' + createHash('sha256').update(readFileSync(p)).digest('hex');
    if (st.isSymbolicLink()) desc += ':' + readlinkSync(p);
    out.set(p, desc);
    if (st.isDirectory()) for (const c of readdirSync(p)) walk(join(p, c));
  };
  walk(s.base);
  // The layer dir's parent mtime changes legitimately only if the layer dir itself is replaced; it is not.
  return out;
}

function raw(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}
function padded(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}
function tarOf(entries: Array<[TarWriteHeader, (Buffer | string)?]>): Buffer {
  const w = new TarWriter();
  for (const [h, c] of entries) w.addEntry(h, c === undefined ? undefined : Buffer.from(c));
  return w.finish();
}

async function unpack(dir: string, blob: Buffer, maxBytes?: number): Promise<UnpackResult> {
  const u = new LayerUnpacker(dir, { layerDigest: 'sha256:' + '0'.repeat(64), maxBytes });
  for (let off = 0; off < blob.length; off += 4096) await u.write(blob.subarray(off, off + 4096));
  return u.finish();
}

/** Runs the layer; expects `code` naming `entry`; checks nothing outside changed. */
async function expectRefused(blob: Buffer, code: ErrorCode, entry: string | undefined, re?: RegExp): Promise<void> {
  const s = sandbox();
  const before = snapshot(s);
  await assert.rejects(unpack(s.dir, blob), (e: unknown) => {
    assert.ok(isBerthError(e), `expected a BerthError, got ${String(e)}`);
    assert.equal(e.code, code, `expected code ${code}, got ${e.code}: ${e.message}`);
    if (entry !== undefined) {
      assert.equal(e.data.entry, entry);
      assert.ok(
        e.message.includes(JSON.stringify(entry).slice(1, -1)) || e.message.includes(entry.replace(/\n/g, '\\n')),
        `message names the entry: ${e.message}`,
      );
    }
    assert.match(e.message, /^unpack layer sha256:0{64}: /);
    if (re) assert.match(e.message, re);
    return true;
  });
  assert.deepEqual(snapshot(s), before, 'nothing outside the layer directory changed');
}

describe('hostile layers: path escapes', () => {
  it('../x', () => expectRefused(raw(rawHeader({ name: '../x' })), ErrorCode.HostileLayer, '../x', /escapes the layer directory/));
  it('a/../../x', () => expectRefused(raw(rawHeader({ name: 'a/../../x' })), ErrorCode.HostileLayer, 'a/../../x', /escapes/));
  it('../../outside/keep through a PAX path', () => {
    const d = paxData([['path', '../../outside/keep']]);
    return expectRefused(
      raw(rawHeader({ name: 'p', typeflag: 'x', size: d.length }), padded(d), rawHeader({ name: 'innocent' })),
      ErrorCode.HostileLayer,
      '../../outside/keep',
    );
  });
  it('absolute /etc/x is mapped inside the layer', async () => {
    const s = sandbox();
    const before = snapshot(s);
    await unpack(s.dir, tarOf([[{ name: '/etc/x' }, 'inside']]));
    assert.equal(readFileSync(join(s.dir, 'etc/x'), 'utf8'), 'inside');
    assert.deepEqual(snapshot(s), before);
  });
});

describe('hostile layers: symlinks', () => {
  it('symlink to an outside dir, then a file under it', async () => {
    const s0 = sandbox();
    const tar = tarOf([[{ name: 'evil', type: 'symlink', linkname: s0.outside }], [{ name: 'evil/x' }, 'pwned']]);
    await expectRefused(tar, ErrorCode.HostileLayer, 'evil/x', /under a symlinked parent/);
  });
  it('symlink ../../outside, then a deeper dir, opaque marker and whiteout under it', async () => {
    for (const second of [
      [{ name: 'evil/sub/new/', type: 'dir' }],
      [{ name: 'evil/.wh..wh..opq' }, ''],
      [{ name: 'evil/.wh.keep' }, ''],
    ] as Array<[TarWriteHeader, string?]>) {
      await expectRefused(
        tarOf([[{ name: 'evil', type: 'symlink', linkname: '../../outside' }], second]),
        ErrorCode.HostileLayer,
        second[0].name,
        /symlinked parent/,
      );
    }
  });
  it('symlink evil -> ../../outside/keep, then a regular file evil replaces the symlink', async () => {
    const s = sandbox();
    const before = snapshot(s);
    await unpack(
      s.dir,
      tarOf([[{ name: 'evil', type: 'symlink', linkname: '../../outside/keep' }], [{ name: 'evil', mode: 0o644 }, 'replaced']]),
    );
    assert.ok(lstatSync(join(s.dir, 'evil')).isFile());
    assert.equal(readFileSync(join(s.dir, 'evil'), 'utf8'), 'replaced');
    assert.equal(readFileSync(join(s.outside, 'keep'), 'utf8'), 'original');
    assert.deepEqual(snapshot(s), before);
  });
  it('symlink to a dir, then a dir entry of the same name replaces it (no chmod through the link)', async () => {
    const s = sandbox();
    const before = snapshot(s);
    await unpack(
      s.dir,
      tarOf([[{ name: 'evil', type: 'symlink', linkname: '../../outside/sub' }], [{ name: 'evil/', type: 'dir', mode: 0o777, uid: 999 }]]),
    );
    assert.ok(lstatSync(join(s.dir, 'evil')).isDirectory());
    assert.deepEqual(snapshot(s), before);
  });
  it('a symlink named "/." or "."', async () => {
    await expectRefused(tarOf([[{ name: '/.', type: 'symlink', linkname: '/etc' }]]), ErrorCode.HostileLayer, '/.', /layer root/);
    await expectRefused(tarOf([[{ name: '.', type: 'symlink', linkname: '../../outside' }]]), ErrorCode.HostileLayer, '.', /layer root/);
    await expectRefused(tarOf([[{ name: './' }, 'file at root']]), ErrorCode.HostileLayer, './');
  });
});

describe('hostile layers: hardlinks', () => {
  it('hardlink to ../../outside/keep', () =>
    expectRefused(raw(rawHeader({ name: 'h', typeflag: '1', linkname: '../../outside/keep' })), ErrorCode.HostileLayer, 'h', /escapes/));
  it('hardlink through a symlinked parent', () =>
    expectRefused(
      Buffer.concat([
        tarOf([[{ name: 'evil', type: 'symlink', linkname: '../../outside' }]]).subarray(0, 512),
        raw(rawHeader({ name: 'h', typeflag: '1', linkname: 'evil/keep' })),
      ]),
      ErrorCode.HostileLayer,
      'h',
      /symlinked parent/,
    ));
  it('hardlink to a directory, or to the root', async () => {
    await expectRefused(
      Buffer.concat([tarOf([[{ name: 'd/', type: 'dir' }]]).subarray(0, 512), raw(rawHeader({ name: 'h', typeflag: '1', linkname: 'd' }))]),
      ErrorCode.HostileLayer,
      'h',
      /directory/,
    );
    await expectRefused(raw(rawHeader({ name: 'h', typeflag: '1', linkname: './' })), ErrorCode.HostileLayer, 'h', /root/);
  });
  it('hardlink to an implicit parent directory', () =>
    expectRefused(
      Buffer.concat([tarOf([[{ name: 'p/q/f' }, 'x']]).subarray(0, 1024), raw(rawHeader({ name: 'h', typeflag: '1', linkname: 'p/q' }))]),
      ErrorCode.HostileLayer,
      'h',
      /directory/,
    ));
});

describe('hostile layers: metadata', () => {
  it('trusted.overlay.* xattrs from the tar are refused', () =>
    expectRefused(
      tarOf([[{ name: 'd/', type: 'dir', xattrs: { 'trusted.overlay.opaque': 'y' } }]]),
      ErrorCode.HostileLayer,
      'd/',
      /overlay xattr/,
    ));
  it('a device node whose name contains a newline', () =>
    expectRefused(
      raw(rawHeader({ name: 'dev/evil\nnode', typeflag: '3', devmajor: 1, devminor: 1 })),
      ErrorCode.InvalidContent,
      'dev/evil\nnode',
      /newline/,
    ));
  it('an entry bigger than the remaining data (truncated)', () => {
    const body = Buffer.alloc(1024, 0x41);
    return expectRefused(Buffer.concat([rawHeader({ name: 'big', size: 1 << 20 }), body]), ErrorCode.InvalidContent, 'big', /truncated/);
  });
  it('a PAX header with a 2 GiB length field', () =>
    expectRefused(
      raw(rawHeader({ name: 'PaxHeaders/x', typeflag: 'x', size: 2 ** 31 })),
      ErrorCode.InvalidContent,
      'PaxHeaders/x',
      /limit/,
    ));
  it('a whiteout with no name', () => expectRefused(tarOf([[{ name: 'd/.wh.' }, '']]), ErrorCode.InvalidContent, 'd/.wh.', /whiteout/));
  it('an entry below a file of this layer', () =>
    expectRefused(
      tarOf([
        [{ name: 'f' }, 'x'],
        [{ name: 'f/g' }, 'y'],
      ]),
      ErrorCode.InvalidContent,
      'f/g',
      /not a directory/,
    ));
});

describe('hostile layers: decompression bomb', () => {
  it('a gzip stream of many GB of zeros stops at maxBytes', async () => {
    const s = sandbox();
    const before = snapshot(s);
    // One member holds a header announcing an 8 GiB file; then members of 64 MiB of zeros each,
    // streamed (64 of them would be 4 GiB); the 32 MiB limit must stop it after the first.
    const header = gzipSync(rawHeader({ name: 'bomb', size: 0o77777777777 }));
    const zeros = await new Promise<Buffer>((resolve, reject) => {
      const z = createGzip({ level: 9 });
      const out: Buffer[] = [];
      z.on('data', (c: Buffer) => out.push(c));
      z.on('end', () => resolve(Buffer.concat(out)));
      z.on('error', reject);
      const block = Buffer.alloc(1 << 20);
      for (let i = 0; i < 64; i++) z.write(block);
      z.end();
    });
    assert.ok(zeros.length < 200_000, 'highly compressible');
    const u = new LayerUnpacker(s.dir, { maxBytes: 32 << 20 });
    let fed = 0;
    await assert.rejects(
      (async () => {
        await u.write(header);
        for (let i = 0; i < 64; i++) {
          await u.write(zeros);
          fed++;
        }
        await u.finish();
      })(),
      (e: unknown) => isBerthError(e, ErrorCode.InvalidContent) && /more than 33554432 bytes.*decompression bomb/.test(e.message),
    );
    assert.equal(fed, 0, 'stopped inside the first 64 MiB member');
    assert.ok(lstatSync(join(s.dir, 'bomb')).size <= 32 << 20);
    assert.deepEqual(snapshot(s), before);
  });
});
