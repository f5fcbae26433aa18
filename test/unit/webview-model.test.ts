/**
 * The inspector page's model: building the tree from layer records, flattening with expansion,
 * filters and sorting, the virtualised window, and keyboard navigation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LayerFileEntry } from '../../protocol';
import {
  ALL_CHANGES,
  buildTree,
  changeOf,
  changesToEntries,
  ContainerChanges,
  fileChangesToEntries,
  flatten,
  formatBytes,
  isDir,
  navigate,
  scrollToReveal,
  shadowLabel,
  visibleRange,
  type Change,
  type ContainerEntry,
  type Filter,
} from '../../webview/model';
import type { ChangesImageLayer, ContainerFileChange } from '../../protocol';

const r = (path: string, type: LayerFileEntry['type'], change: Change, size = 0): LayerFileEntry => ({
  path,
  type,
  size,
  mode: type === 'dir' ? 0o755 : 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  change,
  layer: 1,
});

// Records in tar order, with an implied directory ("usr/lib" has no record).
const entries = [
  r('etc', 'dir', 'changed'),
  r('etc/passwd', 'file', 'changed', 120),
  r('etc/hosts', 'file', 'added', 30),
  r('usr/lib/libc.so', 'file', 'added', 5000),
  r('usr/lib/old.so', 'whiteout', 'deleted'),
  r('var', 'opaque', 'deleted'),
  r('var', 'dir', 'changed'),
  r('var/log', 'dir', 'added'),
  r('zz', 'file', 'added', 1),
];
const all: Filter = { text: '', changes: new Set(ALL_CHANGES) };
const show = (rows: ReturnType<typeof flatten>) => rows.map((x) => `${'  '.repeat(x.depth)}${x.node.name}${x.expanded ? '/' : ''}`);

describe('buildTree', () => {
  const t = buildTree(entries);
  it('nests records, implies missing directories and sums sizes', () => {
    assert.deepEqual(
      t.children.map((c) => c.name),
      ['etc', 'usr', 'var', 'zz'],
    );
    const usr = t.children[1];
    assert.equal(usr.entry, undefined);
    assert.equal(usr.size, 5000);
    assert.equal(usr.files, 2); // the file and the whiteout
    assert.equal(t.size, 5151);
    assert.equal(t.children[2].opaque, true);
    assert.equal(t.children[2].entry?.type, 'dir');
  });
});

describe('flatten', () => {
  const t = buildTree(entries);
  it('shows top-level entries, directories first, until directories are expanded', () => {
    assert.deepEqual(show(flatten(t, new Set(), all, 'name')), ['etc', 'usr', 'var', 'zz']);
    assert.deepEqual(show(flatten(t, new Set(['usr', 'usr/lib']), all, 'name')), [
      'etc',
      'usr/',
      '  lib/',
      '    libc.so',
      '    old.so',
      'var',
      'zz',
    ]);
  });

  it('sorts by size, largest first', () => {
    assert.deepEqual(show(flatten(t, new Set(['etc']), all, 'size')), ['usr', 'etc/', '  passwd', '  hosts', 'zz', 'var']);
  });

  it('filters by path and opens the way to matches', () => {
    assert.deepEqual(show(flatten(t, new Set(), { ...all, text: 'LIBC' }, 'name')), ['usr/', '  lib/', '    libc.so']);
  });

  it('filters by change kind', () => {
    const deleted = flatten(t, new Set(), { text: '', changes: new Set<Change>(['deleted']) }, 'name');
    assert.deepEqual(show(deleted), ['usr/', '  lib/', '    old.so', 'var']);
    const added = flatten(t, new Set(), { text: '', changes: new Set<Change>(['added']) }, 'name');
    assert.deepEqual(show(added), ['etc/', '  hosts', 'usr/', '  lib/', '    libc.so', 'var/', '    log'.slice(2), 'zz']);
  });

  it('flattens 100k records quickly', () => {
    const big: LayerFileEntry[] = [];
    for (let i = 0; i < 100_000; i++) big.push(r(`d${i % 100}/s${i % 7}/f${i}`, 'file', 'added', i));
    const t0 = performance.now();
    const tree = buildTree(big);
    const expanded = new Set(tree.children.map((c) => c.path));
    const rows = flatten(tree, expanded, { ...all, text: 'f99' }, 'size');
    assert.ok(rows.length > 0);
    assert.ok(performance.now() - t0 < 2000);
  });
});

describe('virtualisation', () => {
  it('renders only the rows in view, with overscan', () => {
    assert.deepEqual(visibleRange(0, 220, 22, 100_000, 5), { start: 0, end: 15 });
    assert.deepEqual(visibleRange(22 * 1000, 220, 22, 100_000, 5), { start: 995, end: 1015 });
    assert.deepEqual(visibleRange(22 * 99_995, 220, 22, 100_000, 5), { start: 99_990, end: 100_000 });
    assert.deepEqual(visibleRange(0, 220, 22, 0), { start: 0, end: 0 });
  });

  it('scrolls just enough to reveal a row', () => {
    assert.equal(scrollToReveal(5, 0, 220, 22), 0);
    assert.equal(scrollToReveal(20, 0, 220, 22), 21 * 22 - 220);
    assert.equal(scrollToReveal(2, 100, 220, 22), 44);
  });
});

describe('keyboard navigation', () => {
  const t = buildTree(entries);
  it('moves, opens, enters, closes and goes to the parent', () => {
    let st = { selected: -1, expanded: new Set<string>() };
    const rows = () => flatten(t, st.expanded, all, 'name');
    const key = (k: string) => (st = navigate(rows(), st, k)!);
    key('ArrowDown'); // etc
    key('ArrowDown'); // usr
    assert.equal(rows()[st.selected].node.path, 'usr');
    key('ArrowRight'); // opens usr
    assert.deepEqual([...st.expanded], ['usr']);
    key('ArrowRight'); // to lib
    assert.equal(rows()[st.selected].node.path, 'usr/lib');
    key('Enter'); // opens lib
    key('ArrowDown');
    assert.equal(rows()[st.selected].node.path, 'usr/lib/libc.so');
    key('ArrowLeft'); // to parent lib
    assert.equal(rows()[st.selected].node.path, 'usr/lib');
    key('ArrowLeft'); // closes lib
    assert.deepEqual([...st.expanded], ['usr']);
    key('End');
    assert.equal(rows()[st.selected].node.path, 'zz');
    key('ArrowDown');
    assert.equal(rows()[st.selected].node.path, 'zz');
    key('Home');
    assert.equal(st.selected, 0);
    assert.equal(navigate(rows(), st, 'x'), undefined);
  });
});

describe('formatBytes', () => {
  it('prints decimal units', () => {
    assert.deepEqual([0, 999, 1000, 15_300, 2_500_000].map(formatBytes), ['0 B', '999 B', '1.0 kB', '15 kB', '2.5 MB']);
  });
});

describe('changesToEntries', () => {
  it("maps a container's diff (Kind 0/1/2) to changed/added/deleted records, parents as directories", () => {
    const tree = buildTree(
      changesToEntries([
        { Path: '/etc', Kind: 0 },
        { Path: '/etc/hosts', Kind: 0 },
        { Path: '/tmp', Kind: 0 },
        { Path: '/tmp/new.txt', Kind: 1 },
        { Path: '/bin/false', Kind: 2 },
      ]),
    );
    const rows = flatten(tree, new Set(['etc', 'tmp', 'bin']), { text: '', changes: new Set(ALL_CHANGES) }, 'name');
    assert.deepEqual(
      rows.map((x) => [x.node.path, changeOf(x.node), isDir(x.node)]),
      [
        ['bin', undefined, true],
        ['bin/false', 'deleted', false],
        ['etc', 'changed', true],
        ['etc/hosts', 'changed', false],
        ['tmp', 'changed', true],
        ['tmp/new.txt', 'added', false],
      ],
    );
    assert.equal(tree.children.find((c) => c.path === 'bin')?.children[0].entry?.type, 'whiteout');
  });
});

describe("a container's live changes (container/changes, pushed)", () => {
  const D = (c: string) => 'sha256:' + c.repeat(64);
  const layers: ChangesImageLayer[] = [
    { index: 0, digest: D('1'), chainId: D('a'), createdBy: '/bin/sh -c #(nop) ADD file:base in /' },
    { index: 1, digest: D('2'), chainId: D('b'), createdBy: 'COPY app /app' },
  ];
  const fc = (Path: string, Kind: 0 | 1 | 2, extra: Partial<ContainerFileChange> = {}): ContainerFileChange => ({
    Path,
    Kind,
    Type: Kind === 2 ? 'deleted' : 'file',
    Size: 0,
    Mode: 0o644,
    Mtime: 1_700_000_000_000,
    ...extra,
  });
  const base = [
    fc('/app', 0, { Type: 'dir', Mode: 0o755, Shadows: { Layer: 1, Type: 'dir', Size: 0 } }),
    fc('/app/config.json', 0, { Size: 120, Shadows: { Layer: 1, Type: 'file', Size: 100, Digest: D('c') } }),
    fc('/app/cache.bin', 2, { Shadows: { Layer: 1, Type: 'file', Size: 900_000, Digest: D('d') } }),
    fc('/tmp', 0, { Type: 'dir', Mode: 0o1777, Shadows: { Layer: 0, Type: 'dir', Size: 0 } }),
    fc('/tmp/log.txt', 1, { Size: 5 }),
  ];

  it('become records with sizes, types, modes and the version each change shadows', () => {
    const entries = fileChangesToEntries(base);
    const by = new Map(entries.map((e) => [e.path, e]));
    assert.deepEqual(
      entries.map((e) => [e.path, e.type, e.change, e.size]),
      [
        ['app', 'dir', 'changed', 0],
        ['app/config.json', 'file', 'changed', 120],
        ['app/cache.bin', 'whiteout', 'deleted', 0],
        ['tmp', 'dir', 'changed', 0],
        ['tmp/log.txt', 'file', 'added', 5],
      ],
    );
    assert.equal(by.get('tmp')?.mode, 0o1777);
    assert.deepEqual(by.get('app/cache.bin')?.shadows, { Layer: 1, Type: 'file', Size: 900_000, Digest: D('d') });
    assert.equal(by.get('tmp/log.txt')?.shadows, undefined);
    // The tree sums the container's bytes (deletions weigh nothing).
    const tree = buildTree(entries);
    assert.equal(tree.size, 125);
    assert.equal(tree.files, 3);
  });

  it('label what a change shadows: layer, digest and the history step', () => {
    const s = shadowLabel({ Layer: 1, Type: 'file', Size: 100, Digest: D('c') }, layers);
    assert.equal(s.short, `1 · ${'2'.repeat(12)}`);
    assert.equal(s.long, `shadows the 100 B file of image layer 1 ${'2'.repeat(12)} (COPY app /app)`);
    assert.equal(
      shadowLabel({ Layer: 0, Type: 'dir', Size: 0 }, layers).long,
      `shadows the directory of image layer 0 ${'1'.repeat(12)} (ADD file:base in /)`,
    );
    assert.deepEqual(shadowLabel(undefined, layers), { short: '', long: '' });
    // A layer the page does not know (no image record): the index alone.
    assert.equal(shadowLabel({ Layer: 5, Type: 'symlink', Size: 0 }, layers).short, '5');
  });

  it('apply deltas in version order only: stale ones are ignored, a missed one asks again', () => {
    const live = new ContainerChanges();
    live.reset({ version: 3, running: true, layers, changes: base });
    assert.equal(
      live.apply({ version: 4, changed: [fc('/tmp/log.txt', 1, { Size: 50 }), fc('/new', 1, { Size: 1 })], removed: ['/app/cache.bin'] }),
      'applied',
    );
    assert.equal(live.byPath.get('/tmp/log.txt')?.Size, 50);
    assert.equal(live.byPath.has('/app/cache.bin'), false);
    assert.equal(live.byPath.size, 5);
    assert.equal(live.apply({ version: 4, changed: [fc('/stale', 1)], removed: [] }), 'stale');
    assert.equal(live.byPath.has('/stale'), false);
    assert.equal(live.apply({ version: 6, changed: [fc('/later', 1)], removed: [] }), 'missed');
    assert.equal(live.byPath.has('/later'), false);
    assert.equal(live.version, 4);
    assert.equal(live.apply({ version: 5, running: false, changed: [], removed: [] }), 'applied');
    assert.equal(live.running, false);
    // A one-off list (no version): deltas wait for the pushed whole list.
    live.reset({ running: true, layers, changes: [] });
    assert.equal(live.apply({ version: 1, changed: [fc('/x', 1)], removed: [] }), 'stale');
    assert.equal(live.byPath.size, 0);
  });

  it('count the changes that shadow each image layer', () => {
    const live = new ContainerChanges();
    live.reset({ version: 1, running: false, layers, changes: base });
    assert.deepEqual([...live.shadowCounts()].sort(), [
      [0, 1],
      [1, 3],
    ]);
  });

  it('keep the selected path and open directories across an update', () => {
    // What the page does on a push: rebuild the tree, flatten with the same expansion, find the selection by path.
    const live = new ContainerChanges();
    live.reset({ version: 1, running: true, layers, changes: base });
    const expanded = new Set(['app', 'tmp']);
    const before = flatten(buildTree(live.entries()), expanded, { text: '', changes: new Set(ALL_CHANGES) }, 'name');
    const selected = before.findIndex((r) => r.node.path === 'tmp/log.txt');
    live.apply({ version: 2, changed: [fc('/app/aaa-first', 1)], removed: [] });
    const after = flatten(buildTree(live.entries()), expanded, { text: '', changes: new Set(ALL_CHANGES) }, 'name');
    assert.equal(after.length, before.length + 1);
    const again = after.findIndex((r) => r.node.path === before[selected].node.path);
    assert.equal(again, selected + 1, 'the same row, one lower');
    assert.ok(
      after.every((r) => !r.node.children.length || r.expanded),
      'directories stay open',
    );
    assert.equal((after[again].node.entry as ContainerEntry).size, 5);
  });
});
