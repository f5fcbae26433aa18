/**
 * The per-layer file index: classification against the merged view of lower layers, and the
 * on-disk form (round trip, speed, validation).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isBerthError } from '../../agent/errors';
import { classify, parseIndex, serializeIndex, type LayerIndexEntry } from '../../agent/oci/layerIndex';

const e = (path: string, type: LayerIndexEntry['type'] = 'file', extra: Partial<LayerIndexEntry> = {}): LayerIndexEntry => ({
  path,
  type,
  size: 0,
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  ...extra,
});

describe('classify', () => {
  const l1 = [e('a'), e('d', 'dir'), e('d/x'), e('d/y'), e('e', 'dir'), e('e/f'), e('g', 'dir'), e('g/h')];
  const l2 = [e('a', 'whiteout'), e('d', 'dir'), e('d', 'opaque'), e('d/z'), e('g', 'whiteout')];

  it('honours whiteouts and opaque directories in the lowers, top first', () => {
    const upper = [
      e('a'),
      e('d/x'),
      e('d/z'),
      e('d/y'),
      e('e/f'),
      e('new'),
      e('g/h'),
      e('e/f2', 'whiteout'),
      e('e', 'opaque'),
      e('d', 'dir'),
    ];
    const got = classify(upper, [l2, l1]);
    assert.deepEqual(
      got.map((x) => `${x.path}:${x.type}:${x.change}`),
      [
        'a:file:added', // deleted by l2's whiteout
        'd/x:file:added', // hidden by l2's opaque d
        'd/z:file:changed',
        'd/y:file:added',
        'e/f:file:changed',
        'new:file:added',
        'g/h:file:added', // g whited out in l2
        'e/f2:whiteout:deleted',
        'e:opaque:deleted',
        'd:dir:changed',
      ],
    );
    assert.equal(upper[0].change, undefined, 'inputs are not modified');
  });

  it('an opaque root hides everything below it', () => {
    const got = classify([e('e/f'), e('x')], [[e('.', 'opaque'), e('x')], l1]);
    assert.deepEqual(
      got.map((x) => x.change),
      ['added', 'changed'],
    );
  });

  it('with no lowers everything is added', () => {
    assert.deepEqual(
      classify([e('a'), e('b', 'dir')], []).map((x) => x.change),
      ['added', 'added'],
    );
  });

  // Speed is the benchmark's business (npm run bench); this checks big stacks are classified right.
  it('classifies a big stack: 5,000 paths over 20 lowers of 5,000 entries', () => {
    const lowers: LayerIndexEntry[][] = [];
    for (let l = 0; l < 20; l++) {
      const entries: LayerIndexEntry[] = [];
      for (let i = 0; i < 5000; i++) entries.push(e(`usr/share/l${l}/dir${i % 50}/f${i}`));
      entries.push(e(`usr/share/l${l}/gone`, 'whiteout'));
      lowers.push(entries);
    }
    const upper: LayerIndexEntry[] = [];
    for (let i = 0; i < 5000; i++) upper.push(e(`usr/share/l${i % 20}/dir${i % 50}/f${i}`));
    const got = classify(upper, lowers);
    assert.equal(got.filter((x) => x.change === 'changed').length, 5000);
  });
});

describe('serializeIndex / parseIndex', () => {
  const digest = 'sha256:' + 'ab'.repeat(32);
  const sample = [
    e('.', 'dir', { mode: 0o755, mtime: 1 }),
    e('bin/sh', 'file', { size: 10, mode: 0o4755, uid: 1000, gid: 1000, mtime: 1700000000.5, digest, change: 'added' }),
    e('bin/ash', 'hardlink', { linkTarget: 'bin/sh', digest }),
    e('lib', 'symlink', { linkTarget: 'usr/lib', change: 'changed' }),
    e('etc/gone', 'whiteout', { change: 'deleted' }),
    e('var', 'opaque'),
    e('dev/null', 'char'),
  ];

  it('round trips', () => {
    assert.deepEqual(parseIndex(serializeIndex(sample)), sample);
  });

  it('round trips 5,000 entries', () => {
    const big: LayerIndexEntry[] = [];
    for (let i = 0; i < 5000; i++)
      big.push(
        e(`usr/lib/x86_64-linux-gnu/pkg${i % 97}/file-${i}.so`, 'file', {
          size: i * 13,
          mode: 0o644,
          mtime: 1700000000 + i,
          digest,
          change: 'added',
        }),
      );
    const buf = serializeIndex(big);
    const got = parseIndex(buf);
    assert.equal(got.length, 5000);
    assert.deepEqual(got, big);
  });

  it('refuses corrupt input', () => {
    const bad = (s: string, re: RegExp) =>
      assert.throws(
        () => parseIndex(Buffer.from(s)),
        (err: unknown) => isBerthError(err, ErrorCode.InvalidContent) && re.test(err.message),
      );
    bad('{"v":1,"e":[', /not JSON/);
    bad('{"v":2,"e":[]}', /version-1/);
    bad('[]', /version-1/);
    bad('{"v":1,"e":[["a","file",0,420,0,0,0,0,0]]}', /10-field/);
    bad('{"v":1,"e":[["a","socket",0,420,0,0,0,0,0,0]]}', /bad type/);
    bad('{"v":1,"e":[["a","file",-1,420,0,0,0,0,0,0]]}', /bad number/);
    bad('{"v":1,"e":[["a","file",0,99999,0,0,0,0,0,0]]}', /bad number/);
    bad('{"v":1,"e":[["/abs","file",0,420,0,0,0,0,0,0]]}', /bad path/);
    bad('{"v":1,"e":[["a","file",0,420,0,0,0,"md5:x",0,0]]}', /bad digest/);
    bad('{"v":1,"e":[["a","file",0,420,0,0,0,0,0,"moved"]]}', /bad change/);
    bad('{"v":1,"e":[["a","file",0,420,0,0,"soon",0,0,0]]}', /bad mtime/);
  });
});
