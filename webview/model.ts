/**
 * The inspector page's data model, free of the DOM so it is unit-tested in Node: a file tree built
 * from a layer's records, flattened into the rows currently shown (expansion, filter, sort), the
 * window of rows a virtualised list renders, and keyboard navigation over the rows.
 */
import type { ChangesImageLayer, ContainerChange, ContainerFileChange, LayerFileEntry, ShadowedVersion } from '../protocol';

export type Change = LayerFileEntry['change'];

export interface TreeNode {
  name: string;
  /** Path from the image root ("usr/bin/env"); "" for the root. */
  path: string;
  /** The record for this path; undefined for a directory only implied by its children. */
  entry?: LayerFileEntry;
  /** The directory's lower contents are hidden by this layer (an opaque marker). */
  opaque: boolean;
  children: TreeNode[];
  /** Content bytes of the node and everything below it. */
  size: number;
  /** Files (non-directories) at or below the node. */
  files: number;
}

export type SortKey = 'name' | 'size';

export interface Filter {
  /** Case-insensitive substring of the path; "" for all. */
  text: string;
  /** Change kinds shown. */
  changes: ReadonlySet<Change>;
}

export const ALL_CHANGES: readonly Change[] = ['added', 'changed', 'deleted'];

export interface Row {
  node: TreeNode;
  depth: number;
  expanded: boolean;
}

/** Builds the tree of a layer's records (any order); opaque markers mark their directory. */
export function buildTree(entries: readonly LayerFileEntry[]): TreeNode {
  const root: TreeNode = { name: '/', path: '', opaque: false, children: [], size: 0, files: 0 };
  const byPath = new Map<string, TreeNode>([['', root]]);
  const nodeAt = (path: string): TreeNode => {
    let n = byPath.get(path);
    if (n) return n;
    const slash = path.lastIndexOf('/');
    const parent = nodeAt(slash < 0 ? '' : path.slice(0, slash));
    n = { name: slash < 0 ? path : path.slice(slash + 1), path, opaque: false, children: [], size: 0, files: 0 };
    parent.children.push(n);
    byPath.set(path, n);
    return n;
  };
  for (const e of entries) {
    const path = e.path === '.' ? '' : e.path;
    const n = nodeAt(path);
    if (e.type === 'opaque') n.opaque = true;
    else n.entry = e;
  }
  const total = (n: TreeNode): void => {
    let size = n.entry && n.entry.type !== 'dir' ? n.entry.size : 0;
    let files = n.entry && n.entry.type !== 'dir' ? 1 : 0;
    for (const c of n.children) {
      total(c);
      size += c.size;
      files += c.files;
    }
    n.size = size;
    n.files = files;
  };
  total(root);
  return root;
}

/** What a node shows as its change: its record's, or 'deleted' for an opaque dir with no record. */
export function changeOf(n: TreeNode): Change | undefined {
  return n.entry?.change ?? (n.opaque ? 'deleted' : undefined);
}

export function isDir(n: TreeNode): boolean {
  return n.children.length > 0 || n.entry?.type === 'dir' || (!n.entry && n.path !== '');
}

function compare(sort: SortKey): (a: TreeNode, b: TreeNode) => number {
  const byName = (a: TreeNode, b: TreeNode) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return sort === 'size' ? (a, b) => b.size - a.size || byName(a, b) : (a, b) => Number(isDir(b)) - Number(isDir(a)) || byName(a, b);
}

export function isFiltering(f: Filter): boolean {
  return f.text !== '' || ALL_CHANGES.some((c) => !f.changes.has(c));
}

/**
 * The rows shown: a depth-first walk of expanded directories. With a filter, a node is shown when
 * it or something below it matches, and directories on the way to a match open by themselves.
 */
export function flatten(root: TreeNode, expanded: ReadonlySet<string>, filter: Filter, sort: SortKey): Row[] {
  const rows: Row[] = [];
  const cmp = compare(sort);
  const text = filter.text.toLowerCase();
  const filtering = isFiltering(filter);
  const matches = (n: TreeNode) => {
    const c = changeOf(n);
    const kind = (c !== undefined && filter.changes.has(c)) || (n.opaque && filter.changes.has('deleted'));
    return (text === '' || n.path.toLowerCase().includes(text)) && kind;
  };
  // Which nodes have a match at or below them (only needed when filtering).
  const keep = new Set<TreeNode>();
  const mark = (n: TreeNode): boolean => {
    let any = n !== root && matches(n);
    for (const c of n.children) if (mark(c)) any = true;
    if (any) keep.add(n);
    return any;
  };
  if (filtering) mark(root);
  const walk = (n: TreeNode, depth: number) => {
    const kids = filtering ? n.children.filter((c) => keep.has(c)) : n.children;
    if (kids.length > 1) kids.sort(cmp);
    for (const c of kids) {
      const open = c.children.length > 0 && (expanded.has(c.path) || (filtering && c.children.some((g) => keep.has(g))));
      rows.push({ node: c, depth, expanded: open });
      if (open) walk(c, depth + 1);
    }
  };
  walk(root, 0);
  return rows;
}

/** The rows a virtualised list renders for a scroll position: [start, end), with some overscan. */
export function visibleRange(
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  count: number,
  overscan = 8,
): { start: number; end: number } {
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + Math.ceil(viewport / rowHeight) + overscan);
  return { start, end: Math.max(start, end) };
}

/** The scrollTop that brings row `index` into view (unchanged when it already is). */
export function scrollToReveal(index: number, scrollTop: number, viewport: number, rowHeight: number): number {
  const top = index * rowHeight;
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + viewport) return top + rowHeight - viewport;
  return scrollTop;
}

export interface NavState {
  selected: number;
  expanded: Set<string>;
}

/**
 * Tree keyboard navigation, as in VS Code's trees: Up/Down move, Right opens a directory or goes
 * to its first child, Left closes it or goes to the parent, Enter/Space toggle, Home/End, PageUp/
 * PageDown by `page` rows. Returns the new state, or undefined for keys it does not handle.
 */
export function navigate(rows: readonly Row[], state: NavState, key: string, page = 20): NavState | undefined {
  const last = rows.length - 1;
  const sel = Math.min(Math.max(state.selected, 0), Math.max(last, 0));
  const row = rows[sel];
  const expanded = new Set(state.expanded);
  const to = (i: number): NavState => ({ selected: Math.min(Math.max(i, 0), Math.max(last, 0)), expanded });
  switch (key) {
    case 'ArrowDown':
      return to(state.selected < 0 ? 0 : sel + 1);
    case 'ArrowUp':
      return to(sel - 1);
    case 'Home':
      return to(0);
    case 'End':
      return to(last);
    case 'PageDown':
      return to(sel + page);
    case 'PageUp':
      return to(sel - page);
    case 'ArrowRight':
      if (!row || row.node.children.length === 0) return to(sel);
      if (!row.expanded) {
        expanded.add(row.node.path);
        return to(sel);
      }
      return to(sel + 1);
    case 'ArrowLeft': {
      if (!row) return to(sel);
      if (row.expanded) {
        expanded.delete(row.node.path);
        return to(sel);
      }
      for (let i = sel - 1; i >= 0; i--) if (rows[i].depth < row.depth) return to(i);
      return to(sel);
    }
    case 'Enter':
    case ' ':
      if (!row || row.node.children.length === 0) return to(sel);
      if (row.expanded) expanded.delete(row.node.path);
      else expanded.add(row.node.path);
      return to(sel);
    default:
      return undefined;
  }
}

/**
 * A container's writable layer (`container/diff`: absolute paths, Docker's Kind 0 modified, 1 added,
 * 2 deleted) as records the tree shows. The diff says nothing of types, sizes or modes: changes are
 * files (directories show as such by their children), deletions whiteouts; sizes and modes are 0.
 */
export function changesToEntries(changes: readonly ContainerChange[]): LayerFileEntry[] {
  const kinds = { 0: 'changed', 1: 'added', 2: 'deleted' } as const;
  return changes.map((c) => ({
    path: c.Path.replace(/^\/+/, '') || '.',
    type: c.Kind === 2 ? 'whiteout' : 'file',
    size: 0,
    mode: 0,
    uid: 0,
    gid: 0,
    mtime: 0,
    change: kinds[c.Kind],
    layer: 0,
  }));
}

/** A record of a container's writable layer: a layer record plus the image version it shadows. */
export type ContainerEntry = LayerFileEntry & { shadows?: ShadowedVersion };

/**
 * A container's detailed changes (`container/changes`) as records the tree shows: sizes and modes
 * of the container's entries, deletions as whiteouts, and for changed and deleted paths the image
 * version they shadow (`shadows`).
 */
export function fileChangesToEntries(changes: Iterable<ContainerFileChange>): ContainerEntry[] {
  const kinds = { 0: 'changed', 1: 'added', 2: 'deleted' } as const;
  const types = { file: 'file', dir: 'dir', symlink: 'symlink', other: 'char', deleted: 'whiteout' } as const;
  const out: ContainerEntry[] = [];
  for (const c of changes) {
    const e: ContainerEntry = {
      path: c.Path.replace(/^\/+/, '') || '.',
      type: types[c.Type] ?? 'file',
      size: c.Size,
      mode: c.Mode,
      uid: 0,
      gid: 0,
      mtime: c.Mtime / 1000,
      change: kinds[c.Kind],
      layer: -1,
    };
    if (c.Shadows) e.shadows = c.Shadows;
    out.push(e);
  }
  return out;
}

/**
 * The page's copy of a container's changes, kept current by the panel's pushes: a whole list
 * replaces it; a delta applies only on top of the version just before it. `apply` answers
 * 'applied', 'stale' (already included: ignored) or 'missed' (a version is missing: ask again).
 */
export class ContainerChanges {
  version: number | undefined;
  running = false;
  layers: ChangesImageLayer[] = [];
  readonly byPath = new Map<string, ContainerFileChange>();

  reset(view: { version?: number; running: boolean; layers: ChangesImageLayer[]; changes: ContainerFileChange[] }): void {
    this.version = view.version;
    this.running = view.running;
    this.layers = view.layers;
    this.byPath.clear();
    for (const c of view.changes) this.byPath.set(c.Path, c);
  }

  apply(d: { version: number; running?: boolean; changed: ContainerFileChange[]; removed: string[] }): 'applied' | 'stale' | 'missed' {
    if (this.version === undefined) return 'stale'; // a one-off list: the pushed whole list will come
    if (d.version <= this.version) return 'stale';
    if (d.version !== this.version + 1) return 'missed';
    for (const p of d.removed) this.byPath.delete(p);
    for (const c of d.changed) this.byPath.set(c.Path, c);
    if (d.running !== undefined) this.running = d.running;
    this.version = d.version;
    return 'applied';
  }

  entries(): ContainerEntry[] {
    return fileChangesToEntries(this.byPath.values());
  }

  /** Changes per image layer they shadow (index -> count). */
  shadowCounts(): Map<number, number> {
    const m = new Map<number, number>();
    for (const c of this.byPath.values()) if (c.Shadows) m.set(c.Shadows.Layer, (m.get(c.Shadows.Layer) ?? 0) + 1);
    return m;
  }
}

/** "layer 1 · 3f4a5b6c7d8e" for the column, and the sentence for its tooltip and the detail line. */
export function shadowLabel(s: ShadowedVersion | undefined, layers: readonly ChangesImageLayer[]): { short: string; long: string } {
  if (!s) return { short: '', long: '' };
  const l = layers[s.Layer];
  const digest = l?.digest ? shortDigest(l.digest) : l ? shortDigest(l.chainId) : '';
  const what = s.Type === 'file' || s.Type === 'hardlink' ? `${formatBytes(s.Size)} ${s.Type}` : s.Type === 'dir' ? 'directory' : s.Type;
  const by = l?.createdBy ? ` (${l.createdBy.replace(/^\/bin\/sh -c (#\(nop\) )?/, '')})` : '';
  return {
    short: `${s.Layer}${digest ? ` · ${digest}` : ''}`,
    long: `shadows the ${what} of image layer ${s.Layer}${digest ? ` ${digest}` : ''}${by}`,
  };
}

/** "1.2 MB" (decimal units, as the CLI prints). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** "sha256:0123456789ab" -> "0123456789ab". */
export function shortDigest(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}
