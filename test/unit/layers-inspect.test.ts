/**
 * The layer inspector's core against hand-made indexes: history pairing, change counts, the
 * merged tree (whiteouts, opaque dirs, replaced dirs), wasted and identical bytes, and paging.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isBerthError } from '../../agent/errors';
import { analyze, layerHistory, page, type LayerInput } from '../../agent/images/layers';
import { classify, type LayerIndexEntry } from '../../agent/oci/layerIndex';

const D = (c: string) => 'sha256:' + c.repeat(64);
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
const f = (path: string, size: number, digest: string, extra: Partial<LayerIndexEntry> = {}) => e(path, 'file', { size, digest, ...extra });

/** Classifies a stack bottom first, as the pull does, and wraps it as analysis input. */
function stack(...layers: LayerIndexEntry[][]): LayerInput[] {
  const done: LayerIndexEntry[][] = [];
  for (const l of layers) done.push(classify(l, [...done].reverse()));
  return done.map((entries, i) => ({
    digest: D(String(i)),
    diffId: D('d'),
    chainId: D(String.fromCharCode(97 + i)),
    size: entries.reduce((n, x) => n + (x.type === 'file' ? x.size : 0), 0),
    entries,
  }));
}

const base = [
  e('bin', 'dir'),
  f('bin/sh', 1000, D('1')),
  e('etc', 'dir'),
  f('etc/passwd', 50, D('2')),
  e('var', 'dir'),
  e('var/cache', 'dir'),
  f('var/cache/a', 300, D('3')),
  f('var/cache/b', 200, D('4')),
];
const mid = [
  e('etc', 'dir'),
  f('etc/passwd', 60, D('5')),
  f('bin/sh', 1000, D('1'), { mode: 0o755 }),
  e('opt', 'dir'),
  f('opt/big', 5000, D('6')),
];
const top = [e('var/cache', 'whiteout'), e('opt/big', 'whiteout'), e('etc', 'opaque'), e('etc', 'dir'), f('etc/hosts', 10, D('7'))];

describe('layer history', () => {
  it('skips empty_layer steps and pads missing ones', () => {
    const h = layerHistory(
      [
        { created_by: 'ADD rootfs' },
        { created_by: 'ENV A=1', empty_layer: true },
        { created_by: 'RUN x', created: '2024-01-01T00:00:00Z' },
      ],
      3,
    );
    assert.deepEqual(h, [{ createdBy: 'ADD rootfs' }, { createdBy: 'RUN x', created: '2024-01-01T00:00:00Z' }, { createdBy: '' }]);
  });
});

describe('analyze', () => {
  const layers = stack(base, mid, top);
  const a = analyze(layers, [
    { created_by: 'ADD base' },
    { created_by: 'CMD sh', empty_layer: true },
    { created_by: 'RUN mid' },
    { created_by: 'RUN top' },
  ]);

  it('summarises each layer with its history step and change counts', () => {
    const s = a.summary.layers;
    assert.deepEqual(
      s.map((l) => [l.index, l.createdBy, l.entries, l.added, l.changed, l.deleted, l.size]),
      [
        [0, 'ADD base', 8, 8, 0, 0, 1550],
        [1, 'RUN mid', 5, 2, 3, 0, 6060],
        [2, 'RUN top', 5, 1, 1, 3, 10],
      ],
    );
    assert.equal(s[1].chainId, layers[1].chainId);
  });

  it('lists a layer by path with change kinds', () => {
    assert.deepEqual(
      page(a, { layer: 2 }).entries.map((x) => `${x.path}:${x.type}:${x.change}:${x.layer}`),
      ['var/cache:whiteout:deleted:2', 'opt/big:whiteout:deleted:2', 'etc:opaque:deleted:2', 'etc:dir:changed:2', 'etc/hosts:file:added:2'],
    );
  });

  it('builds the merged tree: top-most entry per path, whiteouts and opaque dirs applied', () => {
    assert.deepEqual(
      page(a, { merged: true })
        .entries.map((x) => `${x.path}@${x.layer}`)
        .sort(),
      ['bin/sh@1', 'bin@0', 'etc/hosts@2', 'etc@2', 'opt@1', 'var@0'],
    );
    assert.equal(a.summary.efficiency.mergedEntries, 6);
    assert.equal(a.summary.efficiency.mergedBytes, 1010);
  });

  it('counts wasted bytes by file with the layer that wasted them', () => {
    const eff = a.summary.efficiency;
    assert.deepEqual(
      eff.wasted.map((w) => `${w.path}:${w.size}:${w.layer}->${w.by}:${w.reason}`),
      [
        'opt/big:5000:1->2:deleted',
        'bin/sh:1000:0->1:identical',
        'var/cache/a:300:0->2:deleted',
        'var/cache/b:200:0->2:deleted',
        'etc/passwd:60:1->2:deleted', // hidden by the opaque etc
        'etc/passwd:50:0->1:overwritten',
      ],
    );
    assert.equal(eff.totalBytes, 1550 + 6060 + 10);
    assert.equal(eff.wastedBytes, 5000 + 1000 + 300 + 200 + 60 + 50);
    assert.equal(eff.identicalBytes, 1000);
    assert.equal(eff.wastedFiles, 6);
    assert.ok(Math.abs(eff.score - (7620 - 6610) / 7620) < 1e-9);
  });

  it('treats a file replacing a directory as deleting what was below it', () => {
    const b = analyze(stack([e('d', 'dir'), f('d/x', 7, D('1'))], [f('d', 3, D('2'))]), undefined);
    assert.deepEqual(
      b.merged.map((x) => `${x.e.path}:${x.e.type}`),
      ['d:file'],
    );
    assert.deepEqual(
      b.summary.efficiency.wasted.map((w) => `${w.path}:${w.reason}`),
      ['d/x:deleted'],
    );
  });

  it('is 100% efficient for an image that wastes nothing, and for an empty one', () => {
    assert.equal(analyze(stack(base), undefined).summary.efficiency.score, 1);
    assert.equal(analyze([], undefined).summary.efficiency.score, 1);
  });

  it('keeps the wasted list short but counts all of it', () => {
    const many = Array.from({ length: 50 }, (_, i) => f(`f${i}`, i + 1, D('1')));
    const b = analyze(stack(many, [e('.', 'opaque')]), undefined, 10);
    assert.equal(b.summary.efficiency.wasted.length, 10);
    assert.equal(b.summary.efficiency.wasted[0].size, 50);
    assert.equal(b.summary.efficiency.wastedFiles, 50);
    assert.equal(b.merged.length, 0);
  });
});

describe('page', () => {
  const a = analyze(stack(base, mid, top), undefined);

  it('pages a layer by index or chain ID, and the merged tree', () => {
    const p = page(a, { layer: 0, offset: 2, limit: 3 });
    assert.deepEqual([p.layer, p.total, p.offset, p.entries.map((x) => x.path)], [0, 8, 2, ['etc', 'etc/passwd', 'var']]);
    assert.equal(page(a, { layer: a.summary.layers[1].chainId }).layer, 1);
    const m = page(a, { merged: true, limit: 2 });
    assert.deepEqual([m.merged, m.total, m.entries.length], [true, 6, 2]);
  });

  it('answers NotFound for a layer the image does not have', () => {
    assert.throws(
      () => page(a, { layer: 9 }),
      (err: unknown) => isBerthError(err, ErrorCode.NotFound),
    );
    assert.throws(
      () => page(a, { layer: D('z') }),
      (err: unknown) => isBerthError(err),
    );
  });
});

describe('speed', () => {
  it('analyses 120k records across 3 layers without blowing up (no quadratic paths)', () => {
    const n = 100_000;
    const l0 = Array.from({ length: n }, (_, i) => f(`usr/share/d${i % 500}/f${i}`, 100, D('1')));
    const l1 = Array.from({ length: n / 10 }, (_, i) => f(`usr/share/d${i % 500}/f${i}`, 100, D('2')));
    const l2 = [e('usr/share/d1', 'whiteout'), ...Array.from({ length: n / 10 }, (_, i) => f(`opt/x${i}`, 1, D('3')))];
    const layers = stack(l0, l1, l2);
    const t = performance.now();
    const a = analyze(layers, undefined);
    const ms = performance.now() - t;
    assert.ok(a.summary.efficiency.wastedFiles > 10_000);
    assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms`);
  });
});
