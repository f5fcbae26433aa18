/**
 * Display formatting for every client (the CLI's commands, the extension's trees and messages):
 * Docker-style tables, sizes and ages, image names as people write them, and `--format` (json, or
 * a small subset of Go templates).
 */
import { humanDuration } from '../protocol/wording';
import { ErrorCode, isBerthError } from '../agent/errors';
import { familiarName, formatReference, type ImageReference, parseReference, withDefaultTag } from '../agent/oci/reference';

// ---------------------------------------------------------------------------------------------
// Sizes and ages
// ---------------------------------------------------------------------------------------------

const SIZE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** Bytes in 1000-based units with 3 significant digits, as Docker prints them: "4.26MB", "523B". */
export function humanSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) bytes = 0;
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < SIZE_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  // Rounding to 3 digits may carry into the next unit (999.7kB -> 1MB).
  if (Number(v.toPrecision(3)) >= 1000 && i < SIZE_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(3))}${SIZE_UNITS[i]}`;
}

/** "2 minutes ago" for a time in seconds since the epoch; "N/A" when unknown (0). */
export function relativeAge(epochSeconds: number, nowMs: number = Date.now()): string {
  if (!epochSeconds) return 'N/A';
  return `${humanDuration(Math.max(0, nowMs - epochSeconds * 1000))} ago`;
}

/** "sha256:0123456789abcdef..." -> "0123456789ab". */
export function shortId(id: string): string {
  const hex = id.startsWith('sha256:') ? id.slice(7) : id;
  return hex.slice(0, 12);
}

/** Cuts a string to `max` characters, ending with "…" when cut. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : chars.slice(0, max - 1).join('') + '…';
}

// ---------------------------------------------------------------------------------------------
// Image names
// ---------------------------------------------------------------------------------------------

/**
 * `ref` parsed by the agent's own parser (agent/oci/reference.ts: one grammar for agent and
 * clients), or undefined when it is not a valid reference: display code then shows it as given and
 * leaves the verdict to the agent.
 */
export function parseName(ref: string): ImageReference | undefined {
  try {
    return parseReference(ref);
  } catch (e) {
    if (isBerthError(e, ErrorCode.InvalidReference)) return undefined;
    throw e;
  }
}

/** "busybox" -> "docker.io/library/busybox:latest"; a digest reference keeps its digest only. Invalid: as given. */
export function normalizeRef(ref: string): string {
  const r = parseName(ref);
  return r ? formatReference(withDefaultTag(r)) : ref;
}

/** The repository as people write it: docker.io/library/busybox -> busybox, docker.io/a/b -> a/b. */
export function familiarRepo(repo: string): string {
  if (repo.startsWith('docker.io/')) {
    const p = repo.slice('docker.io/'.length);
    return p.startsWith('library/') && !p.slice(8).includes('/') ? p.slice(8) : p;
  }
  return repo;
}

/** A full reference as people write it: docker.io/library/busybox:latest -> busybox:latest. Invalid: as given. */
export function familiarRef(ref: string): string {
  const r = parseName(ref);
  return r ? familiarName(r) : ref;
}

/** "docker.io/library/busybox:latest" -> ["docker.io/library/busybox", "latest"]. */
export function splitRepoTag(ref: string): [repo: string, tag: string] {
  const at = ref.indexOf('@');
  const name = at < 0 ? ref : ref.slice(0, at);
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) return [name.slice(0, colon), name.slice(colon + 1)];
  return [name, '<none>'];
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/**
 * Columns aligned like Docker's tabwriter (minimum width 10, 3 spaces of padding); the last column
 * is not padded. Returns the lines joined, with a trailing newline.
 */
export function table(headers: readonly string[] | null, rows: readonly (readonly string[])[]): string {
  const all = headers ? [headers, ...rows] : [...rows];
  if (all.length === 0) return '';
  const cols = Math.max(...all.map((r) => r.length));
  const widths: number[] = [];
  for (let c = 0; c < cols - 1; c++) {
    widths[c] = Math.max(10, ...all.map((r) => [...(r[c] ?? '')].length + 3));
  }
  return (
    all
      .map((r) =>
        r
          .map((cell, c) => (c < r.length - 1 ? cell + ' '.repeat(widths[c]! - [...cell].length) : cell))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

// ---------------------------------------------------------------------------------------------
// --format
// ---------------------------------------------------------------------------------------------

/** `JSON.stringify` the way `berth inspect` prints: indented 4 spaces. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 4);
}

/** How Go's text/template prints a value with `{{.X}}`: slices as [a b], maps as map[k:v]. */
function goString(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '[]';
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).sort();
    if (keys.length === 0) return 'map[]';
    return `map[${keys.map((k) => `${k}:${goString(o[k])}`).join(' ')}]`;
  }
  return String(v);
}

/** Splits an action's body into its words: `.Config.Env`, `"quoted"`, `json`. */
function lexAction(body: string, template: string): string[] {
  const words: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|[^\s"`]+)/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < body.length && (m = re.exec(body))) words.push(m[1]!);
  if (body.slice(re.lastIndex).trim() !== '') throw new TemplateError(`bad action in template: ${template}`);
  return words;
}

export class TemplateError extends Error {}

function evalWord(word: string, data: unknown): unknown {
  if (word.startsWith('"')) return JSON.parse(word);
  if (word.startsWith('`')) return word.slice(1, -1);
  if (word === '.') return data;
  if (word.startsWith('.')) {
    let v: unknown = data;
    for (const key of word.slice(1).split('.')) {
      if (v === null || v === undefined || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[key];
    }
    return v;
  }
  if (/^-?\d+(\.\d+)?$/.test(word)) return Number(word);
  throw new TemplateError(`function "${word}" not defined`);
}

const FUNCS: Record<string, (args: unknown[]) => unknown> = {
  json: ([v]) => JSON.stringify(v ?? null),
  join: ([list, sep]) => (Array.isArray(list) ? list.map(String).join(String(sep ?? '')) : goString(list)),
  index: ([v, ...keys]) => {
    let cur: unknown = v;
    for (const k of keys) cur = cur === null || cur === undefined ? undefined : (cur as Record<string, unknown>)[String(k)];
    return cur;
  },
  len: ([v]) => (Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0),
  upper: ([v]) => goString(v).toUpperCase(),
  lower: ([v]) => goString(v).toLowerCase(),
  println: (args) => args.map(goString).join(' ') + '\n',
};

/**
 * A compiled template: `{{.Field}}`, `{{.A.B}}`, `{{.}}`, and the functions json, join, index,
 * len, upper, lower, println (`{{json .Config}}`, `{{join .RepoTags ","}}`,
 * `{{index .Labels "maintainer"}}`). Like Docker, "\t" and "\n" written literally mean tab and
 * newline.
 */
export function compileTemplate(template: string): (data: unknown) => string {
  const text = template.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const parts: (string | ((data: unknown) => string))[] = [];
  let pos = 0;
  while (pos < text.length) {
    const open = text.indexOf('{{', pos);
    if (open < 0) {
      parts.push(text.slice(pos));
      break;
    }
    parts.push(text.slice(pos, open));
    const close = text.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateError(`unclosed action in template: ${template}`);
    const body = text
      .slice(open + 2, close)
      .replace(/^-\s/, '')
      .replace(/\s-$/, '')
      .trim();
    const words = lexAction(body, template);
    if (words.length === 0) throw new TemplateError(`missing value for command in template: ${template}`);
    const [head, ...rest] = words;
    const fn = FUNCS[head!];
    if (fn) {
      parts.push((d) => {
        const r = fn(rest.map((w) => evalWord(w, d)));
        return typeof r === 'string' ? r : goString(r);
      });
    } else {
      evalWord(head!, {}); // rejects unknown functions now, not on the first row
      if (rest.length) throw new TemplateError(`can't give argument to non-function ${head} in template: ${template}`);
      parts.push((d) => goString(evalWord(head!, d)));
    }
    pos = close + 2;
  }
  return (data) => parts.map((p) => (typeof p === 'string' ? p : p(data))).join('');
}

/**
 * Prints a list for `--format`: "json" gives the array as is (indented); "table TEMPLATE" gives
 * aligned columns with a header made of the field names; any other template gives one line per item.
 */
export function formatList(format: string, items: readonly unknown[], json: unknown = items): string {
  if (format === 'json') return toJson(json) + '\n';
  if (format.startsWith('table ') || format === 'table') {
    const tpl = format.slice(5).trim();
    const render = compileTemplate(tpl);
    const header = compileTemplate(tpl.replace(/\{\{[^}]*?\.([A-Za-z0-9_]*)\s*\}\}/g, (_m, f: string) => (f || 'VALUE').toUpperCase()))({});
    const rows = items.map((i) => render(i).split('\t'));
    return table(header.split('\t'), rows);
  }
  const render = compileTemplate(format);
  return items.map((i) => render(i) + '\n').join('');
}
