/**
 * The streaming tar reader and the writer: round trips (through the writer and through GNU tar),
 * every supported header format, streaming at awkward chunk sizes, and malformed input.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, linkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { native } from '../../native';
import { ErrorCode, isBerthError } from '../../agent/errors';
import { readTar, TarParser, type TarHeader } from '../../agent/oci/tar';
import { TarWriter, paxData, rawHeader, encodeHeader } from '../../agent/oci/tarWriter';

interface Parsed {
  h: TarHeader;
  data: Buffer;
}

/** Parses `buf` feeding it in `chunk`-byte pieces. */
function parse(buf: Buffer, chunk = buf.length): Parsed[] {
  const out: Parsed[] = [];
  let cur: Buffer[] = [];
  const p = new TarParser({
    entry: (h) => {
      cur = [];
      out.push({ h, data: Buffer.alloc(0) });
    },
    data: (c) => cur.push(Buffer.from(c)),
    end: () => {
      out[out.length - 1].data = Buffer.concat(cur);
    },
  });
  for (let off = 0; off < buf.length; off += chunk) p.push(buf.subarray(off, off + chunk));
  p.end();
  return out;
}

function expectInvalid(fn: () => unknown, re: RegExp, entry?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isBerthError(e, ErrorCode.InvalidContent), `expected InvalidContent, got ${String(e)}`);
    assert.match(e.message, re);
    if (entry !== undefined) assert.equal(e.data.entry, entry);
    return true;
  });
}

/** An archive of raw pieces, padded per entry, with the end marker. */
function archive(...pieces: Buffer[]): Buffer {
  return Buffer.concat([...pieces, Buffer.alloc(1024)]);
}
function pad(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}

const tmp = mkdtempSync(join(tmpdir(), 'berth-tar-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('tar writer -> reader round trip', () => {
  const longName = 'deep/' + 'd'.repeat(120) + '/' + 'f'.repeat(150) + '.txt';
  const splitName = 'p'.repeat(90) + '/' + 'q'.repeat(90); // fits ustar prefix+name
  const longLink = '/target/' + 'l'.repeat(250);
  const bin = Buffer.from([0, 1, 2, 0x0a, 0x3d, 0xff, 0xfe, 0x20, 0]);
  const w = new TarWriter();
  w.addEntry({ name: 'dir/', type: 'dir', mode: 0o1775, uid: 1, gid: 2, mtime: 1700000000 });
  w.addEntry(
    { name: 'dir/file', mode: 0o4755, uid: 1000, gid: 1000, mtime: 1700000001.25, uname: 'u', gname: 'g' },
    Buffer.from('hello\n'),
  );
  w.addEntry({ name: longName, xattrs: { 'user.bin': bin, 'security.capability': Buffer.from([1, 0, 0, 2]) } }, Buffer.alloc(1000, 7));
  w.addEntry({ name: splitName }, Buffer.alloc(0));
  w.addEntry({ name: 'sym', type: 'symlink', linkname: longLink });
  w.addEntry({ name: 'hard', type: 'hardlink', linkname: 'dir/file' });
  w.addEntry({ name: 'fifo', type: 'fifo', mode: 0o600 });
  w.addEntry({ name: 'null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 });
  w.addEntry({ name: 'sda', type: 'block', devmajor: 8, devminor: 0 });
  w.addEntry({ name: 'bigid', uid: 4_000_000_000, gid: 3_000_000_000 }, Buffer.from('x'));
  const tar = w.finish();

  for (const chunk of [tar.length, 1, 7, 511, 513, 4096]) {
    it(`parses everything back fed ${chunk} bytes at a time`, () => {
      const e = parse(tar, chunk);
      assert.deepEqual(
        e.map((x) => [x.h.name, x.h.type]),
        [
          ['dir/', 'dir'],
          ['dir/file', 'file'],
          [longName, 'file'],
          [splitName, 'file'],
          ['sym', 'symlink'],
          ['hard', 'hardlink'],
          ['fifo', 'fifo'],
          ['null', 'char'],
          ['sda', 'block'],
          ['bigid', 'file'],
        ],
      );
      assert.equal(e[0].h.mode, 0o1775);
      assert.equal(e[0].h.uid, 1);
      assert.equal(e[0].h.gid, 2);
      assert.equal(e[1].h.mode, 0o4755);
      assert.equal(e[1].h.mtime, 1700000001.25);
      assert.equal(e[1].h.uname, 'u');
      assert.equal(e[1].data.toString(), 'hello\n');
      assert.deepEqual(e[2].data, Buffer.alloc(1000, 7));
      assert.deepEqual(e[2].h.xattrs?.get('user.bin'), bin);
      assert.deepEqual(e[2].h.xattrs?.get('security.capability'), Buffer.from([1, 0, 0, 2]));
      assert.equal(e[4].h.linkname, longLink);
      assert.equal(e[5].h.linkname, 'dir/file');
      assert.equal(e[7].h.devmajor, 1);
      assert.equal(e[7].h.devminor, 3);
      assert.equal(e[8].h.devmajor, 8);
      assert.equal(e[9].h.uid, 4_000_000_000);
      assert.equal(e[9].h.gid, 3_000_000_000);
    });
  }

  it('uses the ustar prefix field when a long name splits', () => {
    const h = encodeHeader({ name: splitName });
    assert.equal(h.length, 512, 'no PAX header needed');
  });

  it('reads through the async iterator with backpressure and skipped content', async () => {
    const chunks: Buffer[] = [];
    for (let off = 0; off < tar.length; off += 300) chunks.push(tar.subarray(off, off + 300));
    const names: string[] = [];
    let fileData = '';
    for await (const entry of readTar(Readable.from(chunks))) {
      names.push(entry.header.name);
      if (entry.header.name === 'dir/file') for await (const c of entry.content) fileData += c.toString();
    }
    assert.equal(names.length, 10);
    assert.equal(fileData, 'hello\n');
  });

  it('refuses to write names with ".." or NUL', () => {
    assert.throws(() => encodeHeader({ name: '../x' }), /\.\./);
    assert.throws(() => encodeHeader({ name: 'a\0b' }), /NUL/);
  });
});

describe('GNU tar output', () => {
  const src = join(tmp, 'src');
  mkdirSync(src);
  const longDir = join(src, 'a'.repeat(80), 'b'.repeat(80));
  mkdirSync(longDir, { recursive: true });
  const longFile = join(longDir, 'c'.repeat(120));
  writeFileSync(longFile, 'long\n');
  writeFileSync(join(src, 'plain'), Buffer.alloc(70000, 1));
  linkSync(join(src, 'plain'), join(src, 'plainlink'));
  symlinkSync('/' + 'z'.repeat(200), join(src, 'longsym'));
  execFileSync('mkfifo', [join(src, 'fifo')]);
  native().mknod(join(src, 'zero'), 0o20644, 1, 5);
  const bin = Buffer.from([0xff, 0, 0x0a, 0x3d, 1]);
  native().lsetxattr(join(src, 'plain'), 'user.bin', bin);

  const rel = (p: string) => './' + p.slice(src.length + 1);

  for (const format of ['pax', 'gnu']) {
    it(`reads tar --format=${format}`, () => {
      const out = join(tmp, `gnu-${format}.tar`);
      const extra = format === 'gnu' ? ['--owner=big:3000000000', '--group=big:3000000001'] : ['--xattrs', '--xattrs-include=user.*'];
      execFileSync('tar', ['--format=' + format, ...extra, '-cf', out, '-C', src, '.']);
      const e = parse(readFileSync(out), 10000);
      const by = new Map(e.map((x) => [x.h.name.replace(/\/$/, ''), x]));
      assert.equal(by.get(rel(longFile))?.data.toString(), 'long\n');
      assert.equal(by.get('./longsym')?.h.linkname, '/' + 'z'.repeat(200));
      assert.equal(by.get('./fifo')?.h.type, 'fifo');
      const zero = by.get('./zero')!;
      assert.equal(zero.h.type, 'char');
      assert.equal(zero.h.devminor, 5);
      const [first, second] = ['./plain', './plainlink'].map((n) => by.get(n)!);
      const link = first.h.type === 'hardlink' ? first : second;
      const file = first.h.type === 'hardlink' ? second : first;
      assert.equal(file.data.length, 70000);
      assert.ok(['./plain', './plainlink'].includes(link.h.linkname));
      if (format === 'pax') {
        assert.deepEqual(file.h.xattrs?.get('user.bin'), bin);
      } else {
        assert.equal(file.h.uid, 3000000000, 'base-256 uid');
        assert.equal(file.h.gid, 3000000001);
      }
    });
  }
});

describe('malformed and hostile archives', () => {
  const good = new TarWriter();
  good.addEntry({ name: 'a' }, Buffer.alloc(2000, 1));
  const goodTar = good.finish();

  it('a truncated entry names the entry', () => {
    expectInvalid(() => parse(goodTar.subarray(0, 512 + 1000)), /truncated.*"a" is missing 1000 bytes/, 'a');
  });
  it('a missing end-of-archive marker is an error', () => {
    expectInvalid(() => parse(goodTar.subarray(0, 512 + 2048)), /end-of-archive marker is missing/);
    expectInvalid(() => parse(goodTar.subarray(0, 100)), /cut short/);
  });
  it('a lone zero block at EOF is accepted; trailing garbage after the marker is ignored', () => {
    assert.equal(parse(goodTar.subarray(0, goodTar.length - 512)).length, 1);
    assert.equal(parse(Buffer.concat([goodTar, Buffer.from('garbage!'.repeat(100))])).length, 1);
  });
  it('a zero block in the middle is an error', () => {
    expectInvalid(() => parse(Buffer.concat([Buffer.alloc(512), goodTar])), /zero block in the middle/);
  });
  it('bad checksum', () => {
    expectInvalid(() => parse(archive(rawHeader({ name: 'x', checksum: 'bad' }))), /bad checksum/, 'x');
  });
  it('signed checksums are accepted', () => {
    const h = rawHeader({ name: 'caf\xe9', size: 0 });
    h.write('\u00e9', 0, 'latin1'); // a byte >= 128
    let signed = 0;
    for (let i = 0; i < 512; i++) signed += i >= 148 && i < 156 ? 32 : h[i] >= 128 ? h[i] - 256 : h[i];
    h.write(signed.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    assert.equal(parse(archive(h)).length, 1);
  });
  it('PAX header with a 2 GiB length field', () => {
    expectInvalid(() => parse(archive(rawHeader({ name: 'PaxHeaders/x', typeflag: 'x', size: 2 ** 31 }))), /over the 1048576-byte limit/);
  });
  it('PAX record over 1 MiB', () => {
    const data = paxData([['comment', 'x'.repeat(1_100_000)]]);
    expectInvalid(
      () => parse(archive(rawHeader({ name: 'p', typeflag: 'x', size: data.length }), pad(data), rawHeader({ name: 'y' }))),
      /limit/,
    );
  });
  it('PAX record with an inconsistent length', () => {
    const data = Buffer.from('99 path=abc\n');
    expectInvalid(
      () => parse(archive(rawHeader({ name: 'p', typeflag: 'x', size: data.length }), pad(data), rawHeader({ name: 'y' }))),
      /malformed record/,
    );
  });
  it('names with a newline or NUL', () => {
    const nl = paxData([['path', 'evil\nname']]);
    expectInvalid(
      () => parse(archive(rawHeader({ name: 'p', typeflag: 'x', size: nl.length }), pad(nl), rawHeader({ name: 'y' }))),
      /entry name contains a newline/,
      'evil\nname',
    );
    const nul = Buffer.from('evil\0name\0');
    expectInvalid(
      () => parse(archive(rawHeader({ name: '././@LongLink', typeflag: 'L', size: nul.length }), pad(nul), rawHeader({ name: 'y' }))),
      /NUL/,
    );
    expectInvalid(() => parse(archive(rawHeader({ name: 'dev\nnode', typeflag: '3' }))), /newline/);
  });
  it('names longer than 4096 bytes', () => {
    const d = paxData([['path', 'a/'.repeat(2100)]]);
    expectInvalid(
      () => parse(archive(rawHeader({ name: 'p', typeflag: 'x', size: d.length }), pad(d), rawHeader({ name: 'y' }))),
      /longer than 4096/,
    );
  });
  it('negative and absurd sizes', () => {
    const neg = Buffer.alloc(12, 0xff);
    expectInvalid(() => parse(archive(rawHeader({ name: 'n', size: neg }))), /negative size/, 'n');
    const huge = Buffer.alloc(12, 0x7f);
    huge[0] = 0x80 | 0x40;
    expectInvalid(() => parse(archive(rawHeader({ name: 'h', size: huge }))), /absurd size/, 'h');
    const pax = paxData([['size', '99999999999999999999']]);
    expectInvalid(
      () => parse(archive(rawHeader({ name: 'p', typeflag: 'x', size: pax.length }), pad(pax), rawHeader({ name: 'y' }))),
      /size/,
    );
    expectInvalid(() => parse(archive(rawHeader({ name: 'o', size: Buffer.from('12x') }))), /malformed size/);
  });
  it('base-256 sizes are read', () => {
    const b = Buffer.alloc(12);
    b[0] = 0x80;
    b[11] = 5;
    const e = parse(archive(rawHeader({ name: 'f', size: b }), pad(Buffer.from('12345'))));
    assert.equal(e[0].data.toString(), '12345');
  });
  it('sparse and unknown types name the entry', () => {
    expectInvalid(() => parse(archive(rawHeader({ name: 'sparse', typeflag: 'S' }))), /"sparse" is a GNU sparse file/, 'sparse');
    expectInvalid(() => parse(archive(rawHeader({ name: 'odd', typeflag: 'Z' }))), /"odd" has unsupported type 'Z'/, 'odd');
    const gs = paxData([['GNU.sparse.major', '1']]);
    expectInvalid(
      () => parse(archive(rawHeader({ name: 'p', typeflag: 'x', size: gs.length }), pad(gs), rawHeader({ name: 's' }))),
      /sparse/,
    );
  });
  it('global headers parse and are ignored; old-style directories are recognised', () => {
    const g = paxData([['comment', 'hi']]);
    const e = parse(
      archive(
        rawHeader({ name: 'g', typeflag: 'g', size: g.length }),
        pad(g),
        rawHeader({ name: 'olddir/', typeflag: '\0', magic: Buffer.alloc(6) }),
      ),
    );
    assert.equal(e.length, 1);
    assert.equal(e[0].h.type, 'dir');
    assert.equal(e[0].h.name, 'olddir/');
  });
  it('symlinks and hardlinks with empty targets are refused', () => {
    expectInvalid(() => parse(archive(rawHeader({ name: 's', typeflag: '2' }))), /empty target/, 's');
  });
});
