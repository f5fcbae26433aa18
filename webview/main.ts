/**
 * The layer inspector page: the image's layers, the selected layer's files as a virtualised tree
 * (or the merged tree), filters, and the image's efficiency; or, for a container, its writable
 * layer's changes. Data comes from the extension through api.ts; the tree logic lives in model.ts.
 */
import './style.css';
import type { ImageLayersResult, InspectedLayer, LayerFileEntry, LayerFilesResult } from '../protocol';
import { createApi } from './api';
import { button, checkbox, dropdown, el, textField, toggle } from './components';
import type { ContainerChangesView, HostMessage, PageRequest } from './messages';
import {
  ALL_CHANGES,
  buildTree,
  changeOf,
  ContainerChanges,
  flatten,
  formatBytes,
  isDir,
  navigate,
  scrollToReveal,
  shadowLabel,
  shortDigest,
  visibleRange,
  type Change,
  type ContainerEntry,
  type Row,
  type SortKey,
  type TreeNode,
} from './model';

const ROW_HEIGHT = 22;
const PAGE = 5000;

const api = createApi();
/** A container's changes as last pushed (container view). */
const live = new ContainerChanges();

interface State {
  reference?: string;
  /** An image's layers, or a container's writable layer. */
  source: 'image' | 'container';
  title: string;
  summary?: ImageLayersResult;
  /** The container's writable layer, as the layer list shows it. */
  writable?: InspectedLayer;
  layer: number;
  merged: boolean;
  tree?: TreeNode;
  /** Every page of the current listing arrived. */
  complete: boolean;
  expanded: Set<string>;
  text: string;
  changes: Set<Change>;
  sort: SortKey;
  rows: Row[];
  selected: number;
  /** Bumped whenever the listing changes, so answers for an old one are dropped. */
  generation: number;
}

const state: State = {
  source: 'image',
  title: '',
  layer: 0,
  merged: false,
  complete: false,
  expanded: new Set(),
  text: '',
  changes: new Set(ALL_CHANGES),
  sort: 'name',
  rows: [],
  selected: -1,
  generation: 0,
};

// --- requests ----------------------------------------------------------------------------------

let nextId = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

type NoId<T> = T extends unknown ? Omit<T, 'id'> : never;

function request<T>(req: NoId<PageRequest>): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    api.post({ ...req, id } as PageRequest);
  });
}

api.onMessage((m: HostMessage) => {
  if (m.kind === 'response') {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (!p) return;
    if (m.error !== undefined) p.reject(new Error(m.error));
    else p.resolve(m.result);
  } else if (m.kind === 'open') {
    const source = m.source ?? 'image';
    const reload = m.reference === state.reference && source === state.source;
    title.textContent = state.title = m.title;
    state.source = source;
    app.classList.toggle('container-view', source === 'container');
    void (source === 'container' ? loadChanges(m.reference, reload) : open(m.reference, reload));
  } else if (m.kind === 'gone') {
    showStatus(m.message, true);
  } else if (m.kind === 'containerChanges' && state.source === 'container') {
    // Pushed while the container runs: applied in place, keeping selection, expansion and scroll.
    if (m.reset) {
      live.reset(m);
      showChanges(true);
    } else {
      const r = live.apply(m);
      if (r === 'applied') showChanges(true);
      else if (r === 'missed') void loadChanges(state.reference ?? '', true);
    }
  }
});

// --- layout ------------------------------------------------------------------------------------

const app = el('div', 'app');
const header = el('header', 'header');
const title = el('h1', 'title', '');
const status = el('span', 'status');
status.setAttribute('role', 'status');
header.append(title, status);

const side = el('aside', 'side');
const layersHeading = el('h2', 'heading', 'Layers');
const layerList = el('ol', 'layers');
layerList.tabIndex = 0;
layerList.setAttribute('role', 'listbox');
layerList.setAttribute('aria-label', 'Layers');
const effHeading = el('h2', 'heading image-only', 'Efficiency');
const effBox = el('section', 'efficiency');
side.append(layersHeading, layerList, effHeading, effBox);

const main = el('main', 'files');
const toolbar = el('div', 'toolbar');
const filterInput = textField('Filter by path', (v) => {
  state.text = v;
  refreshRows(true);
});
const changeBoxes = ALL_CHANGES.map((c) =>
  checkbox(
    c,
    true,
    (on) => {
      if (on) state.changes.add(c);
      else state.changes.delete(c);
      refreshRows(true);
    },
    `change-${c}`,
  ),
);
const mergedToggle = toggle(
  'Merged view',
  false,
  (on) => {
    state.merged = on;
    // In the merged view no single layer is the one shown.
    renderLayers();
    void loadFiles();
  },
  "Show the image's final tree instead of the selected layer",
);
const sortSelect = dropdown<SortKey>(
  [
    { value: 'name', label: 'Sort by name' },
    { value: 'size', label: 'Sort by size' },
  ],
  'name',
  (v) => {
    state.sort = v;
    refreshRows(false);
  },
  'Sort',
);
const collapseAll = button(
  'Collapse',
  () => {
    state.expanded.clear();
    refreshRows(true);
  },
  { secondary: true, title: 'Collapse all directories' },
);
const refresh = button('Refresh', () => void loadChanges(state.reference ?? '', true), {
  secondary: true,
  title: "List the container's changes again (they also reload when the container starts, stops or is committed)",
});
refresh.classList.add('container-only');
toolbar.append(filterInput, ...changeBoxes, sortSelect, mergedToggle, collapseAll, refresh);

const listHeader = el('div', 'row list-header');
listHeader.append(
  el('span', 'name', 'Path'),
  el('span', 'size', 'Size'),
  el('span', 'meta mode-col', 'Mode'),
  el('span', 'meta layer-col', 'Layer'),
  el('span', 'meta shadow-col', 'Shadows'),
);
const viewport = el('div', 'viewport');
viewport.tabIndex = 0;
viewport.setAttribute('role', 'tree');
viewport.setAttribute('aria-label', 'Files');
const spacer = el('div', 'spacer');
const rowsBox = el('div', 'rows');
viewport.append(spacer, rowsBox);
const footer = el('div', 'footer');
/** A container's selected change, in a sentence (what it is, what it shadows). */
const detail = el('div', 'detail');
detail.setAttribute('aria-live', 'polite');
main.append(toolbar, listHeader, viewport, detail, footer);

app.append(header, side, main);
document.body.append(app);

// --- data --------------------------------------------------------------------------------------

async function open(reference: string, reload: boolean): Promise<void> {
  state.reference = reference;
  showStatus('Loading…');
  try {
    state.summary = await request<ImageLayersResult>({ kind: 'request', method: 'layers' });
  } catch (err) {
    showStatus((err as Error).message, true);
    return;
  }
  if (!reload || state.layer >= state.summary.layers.length) state.layer = 0;
  renderLayers();
  renderEfficiency();
  await loadFiles();
}

/** A container: its writable layer's changes, as one layer of records. */
async function loadChanges(reference: string, reload: boolean): Promise<void> {
  const gen = ++state.generation;
  state.reference = reference;
  state.summary = undefined;
  state.merged = false;
  state.layer = 0;
  app.classList.remove('merged');
  if (!reload) state.expanded.clear();
  showStatus('Loading…');
  let view: ContainerChangesView;
  try {
    view = await request<ContainerChangesView>({ kind: 'request', method: 'changes' });
  } catch (err) {
    if (gen === state.generation) showStatus((err as Error).message, true);
    return;
  }
  if (gen !== state.generation) return;
  live.reset(view);
  showChanges(reload);
  showStatus('');
}

/** Shows `live` (the container's changes): the writable layer's summary, the image's layers, the tree. */
function showChanges(keep: boolean): void {
  const entries = live.entries();
  const count = (c: Change) => entries.filter((e) => e.change === c).length;
  let bytes = 0;
  for (const e of entries) if (e.type === 'file') bytes += e.size;
  state.writable = {
    index: 0,
    digest: '',
    diffId: '',
    chainId: '',
    size: bytes,
    createdBy: `Writable layer of ${state.title}${live.running ? ' (live)' : ''}`,
    entries: entries.length,
    added: count('added'),
    changed: count('changed'),
    deleted: count('deleted'),
  };
  state.complete = true;
  state.tree = buildTree(entries);
  renderLayers();
  renderEfficiency();
  refreshRows(!keep);
}

async function loadFiles(): Promise<void> {
  const gen = ++state.generation;
  const merged = state.merged;
  const layer = state.layer;
  app.classList.toggle('merged', merged);
  const entries: LayerFileEntry[] = [];
  state.complete = false;
  for (let offset = 0; ; ) {
    let page: LayerFilesResult;
    try {
      page = await request<LayerFilesResult>({ kind: 'request', method: 'files', params: { layer, merged, offset, limit: PAGE } });
    } catch (err) {
      if (gen === state.generation) showStatus((err as Error).message, true);
      return;
    }
    if (gen !== state.generation) return;
    entries.push(...page.entries);
    offset += page.entries.length;
    state.complete = offset >= page.total || page.entries.length === 0;
    // Show the first page at once; rebuild once more when the rest has arrived.
    if (offset === page.entries.length || state.complete) {
      state.tree = buildTree(entries);
      refreshRows(offset === page.entries.length);
      showStatus(state.complete ? '' : `Loading ${offset} of ${page.total} entries…`);
    }
    if (state.complete) break;
  }
}

// --- layers and efficiency --------------------------------------------------------------------

function selectLayer(i: number): void {
  if (!state.summary || i < 0 || i >= state.summary.layers.length) return;
  state.layer = i;
  if (state.merged) {
    state.merged = false;
    mergedToggle.setPressed(false);
  }
  renderLayers();
  void loadFiles();
}

function renderLayers(): void {
  layerList.replaceChildren();
  const container = state.source === 'container';
  const layers = container ? (state.writable ? [state.writable] : []) : (state.summary?.layers ?? []);
  for (const l of layers) {
    const li = el('li', 'layer');
    li.setAttribute('role', 'option');
    li.setAttribute('aria-selected', String(l.index === state.layer && !state.merged));
    li.dataset.index = String(l.index);
    const top = el('div', 'layer-top');
    // The diff gives no digest or size for a writable layer: the container's ID instead.
    if (container)
      top.append(
        el('span', 'layer-index', 'rw'),
        el('span', 'digest', shortDigest(state.reference ?? '')),
        el('span', 'size', formatBytes(l.size)),
      );
    else
      top.append(
        el('span', 'layer-index', String(l.index)),
        el('span', 'digest', shortDigest(l.digest)),
        el('span', 'size', formatBytes(l.size)),
      );
    const cmd = el('div', 'created-by', l.createdBy.replace(/^\/bin\/sh -c (#\(nop\) )?/, '') || '(no history)');
    cmd.title = l.createdBy;
    const counts = el('div', 'counts');
    counts.append(
      el('span', 'change-added', `+${l.added}`),
      el('span', 'change-changed', `~${l.changed}`),
      el('span', 'change-deleted', `-${l.deleted}`),
    );
    li.append(top, cmd, counts);
    li.addEventListener('click', () => selectLayer(l.index));
    layerList.append(li);
  }
  // A container: below its writable layer, the image's layers (top first) that its changes shadow.
  if (container && live.layers.length > 0) {
    const counts = live.shadowCounts();
    for (const l of [...live.layers].reverse()) {
      const li = el('li', 'layer image-layer');
      li.setAttribute('role', 'option');
      li.setAttribute('aria-disabled', 'true');
      li.dataset.image = String(l.index);
      const top = el('div', 'layer-top');
      top.append(el('span', 'layer-index', String(l.index)), el('span', 'digest', shortDigest(l.digest || l.chainId)));
      const cmd = el('div', 'created-by', l.createdBy.replace(/^\/bin\/sh -c (#\(nop\) )?/, '') || '(no history)');
      cmd.title = l.createdBy;
      const n = counts.get(l.index) ?? 0;
      li.append(top, cmd, el('div', 'counts muted', n === 1 ? 'shadowed by 1 change' : `shadowed by ${n} changes`));
      layerList.append(li);
    }
  }
}

layerList.addEventListener('keydown', (ev) => {
  if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
    selectLayer(state.layer + (ev.key === 'ArrowDown' ? 1 : -1));
    ev.preventDefault();
  } else if (ev.key === 'Enter' || ev.key === 'ArrowRight') {
    viewport.focus();
    ev.preventDefault();
  }
});

function renderEfficiency(): void {
  const e = state.source === 'image' ? state.summary?.efficiency : undefined;
  effBox.replaceChildren();
  if (!e) return;
  const stats = el('dl', 'stats');
  const stat = (k: string, v: string) => stats.append(el('dt', undefined, k), el('dd', undefined, v));
  stat('Score', `${(e.score * 100).toFixed(1)} %`);
  stat('Wasted', `${formatBytes(e.wastedBytes)} in ${e.wastedFiles} files`);
  stat('Identical rewrites', formatBytes(e.identicalBytes));
  stat('Final tree', `${formatBytes(e.mergedBytes)}, ${e.mergedEntries} paths`);
  effBox.append(stats);
  if (e.wasted.length === 0) {
    effBox.append(el('p', 'muted', 'No layer overwrites or deletes files of the layers below.'));
    return;
  }
  const table = el('table', 'wasted');
  const head = el('tr');
  head.append(el('th', undefined, 'File'), el('th', 'num', 'Size'), el('th', undefined, 'Layers'));
  table.append(head);
  for (const w of e.wasted.slice(0, 50)) {
    const tr = el('tr', `reason-${w.reason}`);
    // The cell cuts a long path at its start (style.css), so the file's name stays in view; the
    // isolated left-to-right run keeps the path's characters in order inside the right-to-left cell.
    const path = el('td', 'path');
    const text = el('bdi', undefined, w.path);
    text.dir = 'ltr';
    path.append(text);
    path.title = `${w.path}: written by layer ${w.layer}, ${w.reason} by layer ${w.by}`;
    tr.append(path, el('td', 'num', formatBytes(w.size)), el('td', 'layers', `${w.layer} → ${w.by} ${w.reason}`));
    tr.addEventListener('click', () => selectLayer(w.by));
    table.append(tr);
  }
  effBox.append(table);
}

// --- the virtualised tree ------------------------------------------------------------------------

function refreshRows(resetScroll: boolean): void {
  if (!state.tree) return;
  const keepPath = state.rows[state.selected]?.node.path;
  state.rows = flatten(state.tree, state.expanded, { text: state.text, changes: state.changes }, state.sort);
  state.selected = keepPath === undefined ? -1 : state.rows.findIndex((r) => r.node.path === keepPath);
  spacer.style.height = `${state.rows.length * ROW_HEIGHT}px`;
  if (resetScroll) viewport.scrollTop = 0;
  const t = state.tree;
  footer.textContent =
    state.source === 'container'
      ? `${state.rows.length} rows · ${state.writable?.entries ?? 0} changes`
      : `${state.rows.length} rows · ${t.files} files · ${formatBytes(t.size)}${state.complete ? '' : ' (loading)'}`;
  renderRows();
}

function renderRows(): void {
  const { start, end } = visibleRange(viewport.scrollTop, viewport.clientHeight || 600, ROW_HEIGHT, state.rows.length);
  const frag = document.createDocumentFragment();
  for (let i = start; i < end; i++) frag.append(rowElement(state.rows[i], i));
  rowsBox.replaceChildren(frag);
  rowsBox.style.transform = `translateY(${start * ROW_HEIGHT}px)`;
  renderDetail();
}

function renderDetail(): void {
  const n = state.source === 'container' ? state.rows[state.selected]?.node : undefined;
  const e = n?.entry as ContainerEntry | undefined;
  if (!n || !e) {
    detail.textContent = state.source === 'container' ? 'Select a change to see what it shadows.' : '';
    return;
  }
  const size = e.type === 'file' ? `, ${formatBytes(e.size)}` : '';
  const sh = shadowLabel(e.shadows, live.layers).long;
  detail.textContent = `/${n.path}: ${e.change}${size}${sh ? `; ${sh}` : e.change === 'added' ? '; new in the container' : ''}`;
}

function rowElement(r: Row, i: number): HTMLElement {
  const n = r.node;
  const change = changeOf(n);
  const d = el('div', `row${change ? ` change-${change}` : ''}${i === state.selected ? ' selected' : ''}`);
  d.setAttribute('role', 'treeitem');
  d.setAttribute('aria-level', String(r.depth + 1));
  if (n.children.length > 0) d.setAttribute('aria-expanded', String(r.expanded));
  d.dataset.index = String(i);
  d.dataset.path = n.path;
  const name = el('span', 'name');
  name.style.paddingLeft = `${r.depth * 14}px`;
  const twisty = el('span', `twisty${n.children.length > 0 ? (r.expanded ? ' open' : ' closed') : ''}`);
  const e = n.entry;
  let label = n.name + (isDir(n) ? '/' : '');
  if (e?.type === 'symlink' && e.linkTarget !== undefined) label += ` → ${e.linkTarget}`;
  if (e?.type === 'hardlink' && e.linkTarget !== undefined) label += ` ⇒ /${e.linkTarget}`;
  if (e?.type === 'whiteout') label += ' (deleted)';
  if (n.opaque) label += ' (contents replaced)';
  name.append(twisty, document.createTextNode(label));
  name.title = `/${n.path}${change ? ` (${change})` : ''}`;
  const size = el('span', 'size', n.size > 0 || e?.type === 'file' ? formatBytes(n.size) : '');
  const mode = el('span', 'meta mode-col', e ? modeString(e) : '');
  const layer = el('span', 'meta layer-col', e ? String(e.layer) : '');
  const sh = shadowLabel((e as ContainerEntry | undefined)?.shadows, live.layers);
  const shadow = el('span', 'meta shadow-col', sh.short);
  if (sh.long) shadow.title = sh.long;
  d.append(name, size, mode, layer, shadow);
  return d;
}

function modeString(e: LayerFileEntry): string {
  if (e.type === 'whiteout' || e.type === 'opaque') return '';
  const t = { file: '-', dir: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p' }[e.type];
  let s = t;
  for (let shift = 6; shift >= 0; shift -= 3) {
    const b = (e.mode >> shift) & 7;
    s += (b & 4 ? 'r' : '-') + (b & 2 ? 'w' : '-') + (b & 1 ? 'x' : '-');
  }
  return `${s} ${e.uid}:${e.gid}`;
}

viewport.addEventListener('scroll', () => renderRows(), { passive: true });
window.addEventListener('resize', () => renderRows());

rowsBox.addEventListener('click', (ev) => {
  const row = (ev.target as HTMLElement).closest<HTMLElement>('.row');
  if (!row) return;
  const i = Number(row.dataset.index);
  const r = state.rows[i];
  state.selected = i;
  if (r && r.node.children.length > 0 && (ev.target as HTMLElement).closest('.twisty, .name')) {
    if (r.expanded) state.expanded.delete(r.node.path);
    else state.expanded.add(r.node.path);
    refreshRows(false);
  } else renderRows();
  viewport.focus();
});

viewport.addEventListener('keydown', (ev) => {
  const page = Math.max(1, Math.floor(viewport.clientHeight / ROW_HEIGHT) - 1);
  const next = navigate(state.rows, { selected: state.selected, expanded: state.expanded }, ev.key, page);
  if (!next) return;
  ev.preventDefault();
  const structural = next.expanded.size !== state.expanded.size;
  state.expanded = next.expanded;
  state.selected = next.selected;
  if (structural) refreshRows(false);
  viewport.scrollTop = scrollToReveal(state.selected, viewport.scrollTop, viewport.clientHeight, ROW_HEIGHT);
  renderRows();
});

function showStatus(text: string, error = false): void {
  status.textContent = text;
  status.classList.toggle('error', error);
}

api.post({ kind: 'ready' });
