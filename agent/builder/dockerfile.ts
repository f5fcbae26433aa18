/**
 * A Dockerfile parser of Berth's own, following the Dockerfile reference's rules (the parts Berth
 * builds; see README "Builds"):
 *
 * - Parser directives: `# escape=\` or `` # escape=` `` and `# syntax=...` (ignored, with a
 *   warning), only in the leading lines, before any comment, blank line or instruction. A repeated
 *   or invalid directive is an error.
 * - Comments: lines whose first non-blank character is `#` (also between continuation lines, where
 *   they are dropped, as are blank lines). A line ending in the escape character (trailing blanks
 *   allowed) continues on the next one; the pieces are joined as they are, without a separator.
 * - Instructions are case-insensitive. Leading `--name[=value]` flags are split off every
 *   instruction; each instruction accepts only its own ones.
 * - JSON (exec) form vs shell form for RUN, CMD, ENTRYPOINT (SHELL must be JSON); COPY, ADD and
 *   VOLUME accept both a JSON array and words.
 * - Words keep their quotes and escapes here: {@link expandWord} (expand.ts) substitutes `$VAR`, `${VAR}`,
 *   `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}` (and `:?`/`?`, an error when
 *   unset) and removes the quotes when the builder knows the variables, in the instructions Docker
 *   substitutes in (FROM, COPY, ADD, ENV, LABEL, ARG defaults, EXPOSE, USER, WORKDIR, VOLUME,
 *   STOPSIGNAL, and the values of flags). RUN, CMD and ENTRYPOINT are left to the shell.
 * - Not supported, each refused with an error naming the line: heredocs (`<<EOF`), HEALTHCHECK,
 *   ONBUILD, `RUN --mount/--network/--security`, `COPY --link/--parents/--exclude`, `ADD
 *   --checksum/--keep-git-dir` and any unknown flag or instruction.
 *
 * Everything here is hostile input (the Dockerfile comes from the client): sizes are capped, NUL
 * bytes and invalid UTF-8 are refused, and every error is a BerthError(InvalidArgument) reading
 * "Dockerfile:LINE: INSTRUCTION: what is wrong" with data {operation: 'build', path, line}.
 * Every scan is linear in the input.
 */
import { BerthError, ErrorCode } from '../errors';

/** Largest Dockerfile accepted, in bytes. */
export const MAX_DOCKERFILE_BYTES = 1024 * 1024;
/** Most instructions in one Dockerfile. */
export const MAX_INSTRUCTIONS = 1000;

export type Keyword =
  | 'FROM'
  | 'ARG'
  | 'RUN'
  | 'CMD'
  | 'ENTRYPOINT'
  | 'SHELL'
  | 'ENV'
  | 'LABEL'
  | 'EXPOSE'
  | 'VOLUME'
  | 'USER'
  | 'WORKDIR'
  | 'STOPSIGNAL'
  | 'COPY'
  | 'ADD'
  | 'MAINTAINER';

const SUPPORTED = new Set<string>([
  'FROM',
  'ARG',
  'RUN',
  'CMD',
  'ENTRYPOINT',
  'SHELL',
  'ENV',
  'LABEL',
  'EXPOSE',
  'VOLUME',
  'USER',
  'WORKDIR',
  'STOPSIGNAL',
  'COPY',
  'ADD',
  'MAINTAINER',
]);
const REFUSED: Record<string, string> = {
  HEALTHCHECK: 'HEALTHCHECK is not supported by Berth builds (the runtime runs no health checks)',
  ONBUILD: 'ONBUILD is not supported by Berth builds',
};

/** What every parsed instruction has. */
interface Base {
  /** The line the instruction starts on (1-based). */
  line: number;
  /** The instruction as written, continuations joined, trimmed (for messages and history). */
  text: string;
}

/** A command line: JSON (exec) form, or shell form (run through the SHELL, `/bin/sh -c` by default). */
export type CommandLine = { exec: string[]; shell?: undefined } | { shell: string; exec?: undefined };

export interface KeyValue {
  /** Raw words (quotes and `$` unexpanded). */
  key: string;
  value: string;
}

export type Instruction =
  | (Base & { keyword: 'FROM'; image: string; name?: string; platform?: string })
  | (Base & { keyword: 'ARG'; args: { name: string; value?: string }[] })
  | (Base & { keyword: 'RUN' | 'CMD' | 'ENTRYPOINT'; command: CommandLine })
  | (Base & { keyword: 'SHELL'; exec: string[] })
  | (Base & { keyword: 'ENV' | 'LABEL'; pairs: KeyValue[] })
  | (Base & { keyword: 'EXPOSE'; ports: string[] })
  | (Base & { keyword: 'VOLUME'; paths: string[]; json: boolean })
  | (Base & { keyword: 'USER' | 'WORKDIR' | 'STOPSIGNAL' | 'MAINTAINER'; value: string })
  | (Base & { keyword: 'COPY' | 'ADD'; sources: string[]; dest: string; json: boolean; from?: string; chown?: string; chmod?: string });

/** One build stage: its FROM and what follows up to the next FROM. */
export interface Stage {
  /** Position in the file, from 0. */
  index: number;
  /** The `AS` name, lower-cased, when given. */
  name?: string;
  from: Extract<Instruction, { keyword: 'FROM' }>;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** The escape character: `\` unless a directive says `` ` ``. */
  escape: string;
  /** ARGs before the first FROM (usable in FROM lines). */
  globalArgs: Extract<Instruction, { keyword: 'ARG' }>[];
  stages: Stage[];
  /** Things worth telling the user (an ignored `# syntax=`, empty continuation lines). */
  warnings: string[];
}

export interface ParseOptions {
  /** The Dockerfile's path, for error data. */
  path?: string;
}

/** A Dockerfile error: "Dockerfile:LINE: INSTRUCTION: what". */
export function dockerfileError(line: number, keyword: string | undefined, what: string, path?: string): BerthError {
  const where = line > 0 ? `Dockerfile:${line}` : 'Dockerfile';
  return new BerthError(ErrorCode.InvalidArgument, `${where}: ${keyword ? `${keyword}: ` : ''}${what}`, {
    operation: 'build',
    ...(path ? { path } : {}),
    ...(line > 0 ? { line } : {}),
  });
}

const DIRECTIVE_RE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.*?)[ \t]*$/;
const STAGE_NAME_RE = /^[a-z][a-z0-9_.-]*$/;
const ARG_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FLAG_NAME_RE = /^[a-z][a-z0-9-]*$/;

/** Parses a Dockerfile (bytes or text). Throws the first error found (see the module comment). */
export function parseDockerfile(input: Buffer | string, opts: ParseOptions = {}): Dockerfile {
  const path = opts.path;
  const fail = (line: number, keyword: string | undefined, what: string) => dockerfileError(line, keyword, what, path);
  let text: string;
  if (typeof input === 'string') {
    if (Buffer.byteLength(input) > MAX_DOCKERFILE_BYTES)
      throw fail(0, undefined, `the Dockerfile is larger than ${MAX_DOCKERFILE_BYTES} bytes`);
    text = input;
  } else {
    if (input.length > MAX_DOCKERFILE_BYTES) throw fail(0, undefined, `the Dockerfile is larger than ${MAX_DOCKERFILE_BYTES} bytes`);
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch (e) {
      if (!(e instanceof TypeError)) throw e; // the decoder's "invalid UTF-8"
      throw fail(0, undefined, 'the Dockerfile is not valid UTF-8 text');
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].includes('\0')) throw fail(i + 1, undefined, 'the line contains a NUL byte');
  }

  const warnings: string[] = [];
  // Parser directives: the leading lines of the form `# name=value`.
  let esc = '\\';
  let first = 0;
  const seen = new Set<string>();
  for (; first < lines.length; first++) {
    const m = DIRECTIVE_RE.exec(lines[first]);
    if (!m) break;
    const name = m[1].toLowerCase();
    if (name !== 'escape' && name !== 'syntax' && name !== 'check') continue; // unknown ones are comments
    if (seen.has(name)) throw fail(first + 1, undefined, `the parser directive "${name}" is given more than once`);
    seen.add(name);
    if (name === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`')
        throw fail(first + 1, undefined, `invalid escape directive "${m[2]}": the escape character must be \\ or \``);
      esc = m[2];
    } else if (name === 'syntax') {
      warnings.push(`Dockerfile:${first + 1}: the "syntax" directive (${m[2]}) is ignored: Berth parses Dockerfiles itself`);
    }
  }

  // Logical lines: continuations joined, comments and blank lines dropped.
  const logical: { line: number; text: string }[] = [];
  const contRe = new RegExp(`${escapeRegExp(esc)}[ \\t]*$`);
  let cur: { line: number; text: string } | undefined;
  for (let i = first; i < lines.length; i++) {
    const raw = lines[i];
    const trimmed = raw.trim();
    if (trimmed.startsWith('#')) continue;
    if (trimmed === '') {
      if (cur) warnings.push(`Dockerfile:${i + 1}: empty continuation line`);
      continue;
    }
    const m = contRe.exec(raw);
    const piece = m ? raw.slice(0, m.index) : raw;
    if (cur) cur.text += piece;
    else cur = { line: i + 1, text: piece };
    if (!m) {
      logical.push(cur);
      cur = undefined;
    }
  }
  if (cur && cur.text.trim() !== '') logical.push(cur);
  if (logical.length > MAX_INSTRUCTIONS)
    throw fail(logical[MAX_INSTRUCTIONS].line, undefined, `too many instructions (at most ${MAX_INSTRUCTIONS})`);

  const globalArgs: Dockerfile['globalArgs'] = [];
  const stages: Stage[] = [];
  const names = new Set<string>();
  for (const l of logical) {
    const ins = parseInstruction(l.line, l.text, esc, path);
    if (ins.keyword === 'FROM') {
      if (ins.name !== undefined) {
        if (names.has(ins.name)) throw fail(ins.line, 'FROM', `the stage name "${ins.name}" is used by an earlier stage`);
        names.add(ins.name);
      }
      stages.push({ index: stages.length, name: ins.name, from: ins, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG')
        throw fail(ins.line, ins.keyword, 'comes before any FROM; a Dockerfile starts with FROM (only ARG may come before it)');
      globalArgs.push(ins);
    } else {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  if (stages.length === 0) throw fail(0, undefined, 'no FROM instruction: a Dockerfile needs at least one');
  return { escape: esc, globalArgs, stages, warnings };
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|`]/g, '\\$&');
}

/** Splits leading `--flag[=value]` words off `rest`; values keep their quotes. */
function splitFlags(rest: string, esc: string, fail: (what: string) => BerthError): { flags: Map<string, string | true>; rest: string } {
  const flags = new Map<string, string | true>();
  let s = rest;
  for (;;) {
    s = s.replace(/^[ \t]+/, '');
    if (!s.startsWith('--')) break;
    const [word, after] = firstWord(s, esc);
    if (word === '--') throw fail('a lone "--" is not a flag');
    const eq = word.indexOf('=');
    const name = (eq < 0 ? word.slice(2) : word.slice(2, eq)).toLowerCase();
    if (!FLAG_NAME_RE.test(name)) throw fail(`invalid flag "${word.slice(0, 64)}"`);
    if (flags.has(name)) throw fail(`the flag --${name} is given more than once`);
    flags.set(name, eq < 0 ? true : word.slice(eq + 1));
    s = after;
  }
  return { flags, rest: s };
}

/** The first word of `s` (quote- and escape-aware) and what follows it. */
function firstWord(s: string, esc: string): [string, string] {
  let i = 0;
  let quote = '';
  for (; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === esc && quote === '"' && i + 1 < s.length) i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === esc && i + 1 < s.length) {
      i++;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === ' ' || c === '\t') break;
  }
  return [s.slice(0, i), s.slice(i)];
}

/**
 * Splits `s` into words at unquoted, unescaped blanks; the words keep their quotes and escapes
 * (for {@link expandWord}). An unterminated quote is an error.
 */
export function splitWords(s: string, esc: string): string[] {
  const out: string[] = [];
  let i = 0;
  let start = -1;
  let quote = '';
  for (; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === esc && quote === '"' && i + 1 < s.length) i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === ' ' || c === '\t') {
      if (start >= 0) out.push(s.slice(start, i));
      start = -1;
      continue;
    }
    if (start < 0) start = i;
    if (c === esc && i + 1 < s.length) i++;
    else if (c === '"' || c === "'") quote = c;
  }
  if (quote) throw new SyntaxError(`unterminated ${quote === '"' ? 'double' : 'single'} quote`);
  if (start >= 0) out.push(s.slice(start));
  return out;
}

/** The text as a JSON array of strings, or undefined when it is not meant as one (see parseCommand). */
function jsonArray(text: string, what: string, fail: (what: string) => BerthError): string[] | undefined {
  const t = text.trim();
  if (!t.startsWith('[')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch (e) {
    // `[ -f x ] && ...` and `[ "$X" = y ]` are shell commands; `["a" "b"]` or `[ "a", "b"` is a
    // broken JSON array.
    if (/^\["/.test(t) || (/^\[\s*"/.test(t) && /"\s*,/.test(t))) {
      throw fail(
        `${what} looks like a JSON array but is not valid JSON (${(e as Error).message}); write it as ["arg", ...] or in shell form`,
      );
    }
    return undefined;
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw fail(`${what} must be a JSON array of strings`);
  return v as string[];
}

const HEREDOC_RE = /(^|[ \t])<<-?[ \t]*["']?[A-Za-z_][A-Za-z0-9_]*["']?/;

function parseInstruction(line: number, raw: string, esc: string, path: string | undefined): Instruction {
  const text = raw.trim();
  const m = /^(\S+)([\s\S]*)$/.exec(text)!;
  const word = m[1];
  const keyword = word.toUpperCase();
  const fail = (what: string) => dockerfileError(line, SUPPORTED.has(keyword) ? keyword : undefined, what, path);
  if (REFUSED[keyword]) throw dockerfileError(line, keyword, REFUSED[keyword], path);
  if (!SUPPORTED.has(keyword))
    throw dockerfileError(line, undefined, `unknown instruction: ${word.length > 64 ? `${word.slice(0, 64)}...` : word}`, path);
  const { flags, rest: afterFlags } = splitFlags(m[2], esc, fail);
  const rest = afterFlags.trim();
  const allow = (...names: string[]) => {
    for (const f of flags.keys()) {
      if (names.includes(f)) continue;
      throw fail(unsupportedFlag(keyword, f));
    }
  };
  const flagValue = (name: string): string | undefined => {
    const v = flags.get(name);
    if (v === undefined) return undefined;
    if (v === true || v === '') throw fail(`the flag --${name} needs a value (--${name}=VALUE)`);
    return v;
  };
  const words = (): string[] => {
    try {
      return splitWords(rest, esc);
    } catch (e) {
      throw fail((e as Error).message);
    }
  };
  const base = { line, text };
  const noHeredoc = () => {
    if (HEREDOC_RE.test(rest))
      throw fail('heredocs (<<WORD) are not supported; put the content in a file of the build context and COPY it');
  };

  switch (keyword) {
    case 'FROM': {
      allow('platform');
      const w = words();
      if (w.length !== 1 && !(w.length === 3 && w[1].toLowerCase() === 'as')) throw fail('want "FROM image [AS name]"');
      let name: string | undefined;
      if (w.length === 3) {
        name = w[2].toLowerCase();
        if (!STAGE_NAME_RE.test(name))
          throw fail(`invalid stage name "${w[2]}": it must start with a letter and hold only letters, digits, "_", "." and "-"`);
      }
      return {
        ...base,
        keyword,
        image: w[0],
        ...(name !== undefined ? { name } : {}),
        ...(flags.has('platform') ? { platform: flagValue('platform') } : {}),
      };
    }
    case 'ARG': {
      allow();
      const w = words();
      if (w.length === 0) throw fail('needs a name (ARG NAME[=default])');
      const args = w.map((x) => {
        const eq = x.indexOf('=');
        const name = eq < 0 ? x : x.slice(0, eq);
        if (!ARG_NAME_RE.test(name)) throw fail(`invalid argument name "${name.slice(0, 64)}"`);
        return eq < 0 ? { name } : { name, value: x.slice(eq + 1) };
      });
      return { ...base, keyword, args };
    }
    case 'RUN':
    case 'CMD':
    case 'ENTRYPOINT': {
      allow();
      if (rest === '') throw fail('needs a command');
      const exec = jsonArray(rest, keyword, fail);
      if (exec) {
        if (keyword === 'RUN' && exec.length === 0) throw fail('needs a command (the JSON array is empty)');
        return { ...base, keyword, command: { exec } };
      }
      if (keyword === 'RUN') noHeredoc();
      return { ...base, keyword, command: { shell: rest } };
    }
    case 'SHELL': {
      allow();
      const exec = jsonArray(rest, 'SHELL', fail);
      if (!exec || exec.length === 0) throw fail('must be a non-empty JSON array of strings, e.g. SHELL ["/bin/sh", "-c"]');
      return { ...base, keyword, exec };
    }
    case 'ENV':
    case 'LABEL': {
      allow();
      const w = words();
      if (w.length === 0) throw fail(`needs at least one name=value pair`);
      const firstEq = unquotedEquals(w[0], esc);
      if (firstEq < 0) {
        // The old form: NAME VALUE..., the value being the rest of the line.
        if (w.length < 2) throw fail(`"${w[0].slice(0, 64)}" has no value (want ${keyword} NAME=VALUE, or ${keyword} NAME VALUE)`);
        const value = rest.slice(w[0].length).trim();
        return { ...base, keyword, pairs: [{ key: w[0], value }] };
      }
      const pairs = w.map((x) => {
        const eq = unquotedEquals(x, esc);
        if (eq < 0) throw fail(`"${x.slice(0, 64)}" is not NAME=VALUE (every word must be NAME=VALUE when the first one is)`);
        if (eq === 0) throw fail(`a name is empty in "${x.slice(0, 64)}"`);
        return { key: x.slice(0, eq), value: x.slice(eq + 1) };
      });
      return { ...base, keyword, pairs };
    }
    case 'EXPOSE': {
      allow();
      const ports = words();
      if (ports.length === 0) throw fail('needs at least one port');
      return { ...base, keyword, ports };
    }
    case 'VOLUME': {
      allow();
      const exec = jsonArray(rest, 'VOLUME', fail);
      const paths = exec ?? words();
      if (paths.length === 0) throw fail('needs at least one path');
      if (paths.some((p) => p.trim() === '')) throw fail('a path is empty');
      return { ...base, keyword, paths, json: exec !== undefined };
    }
    case 'USER':
    case 'STOPSIGNAL':
    case 'WORKDIR':
    case 'MAINTAINER': {
      allow();
      if (rest === '') throw fail('needs a value');
      if (keyword === 'USER' || keyword === 'STOPSIGNAL') {
        if (words().length !== 1) throw fail('takes exactly one argument');
      }
      return { ...base, keyword, value: rest };
    }
    case 'COPY':
    case 'ADD': {
      if (keyword === 'COPY') allow('from', 'chown', 'chmod');
      else allow('chown', 'chmod');
      const exec = jsonArray(rest, keyword, fail);
      if (!exec) noHeredoc();
      const all = exec ?? words();
      if (all.length < 2) throw fail(`needs at least one source and a destination (${keyword} SRC... DEST)`);
      const chmod = flagValue('chmod');
      if (chmod !== undefined && !/^[0-7]{3,4}$/.test(chmod))
        throw fail(`--chmod must be an octal mode such as 755 or 0644, got "${chmod.slice(0, 64)}"`);
      return {
        ...base,
        keyword,
        sources: all.slice(0, -1),
        dest: all[all.length - 1],
        json: exec !== undefined,
        ...(flags.has('from') ? { from: flagValue('from') } : {}),
        ...(flags.has('chown') ? { chown: flagValue('chown') } : {}),
        ...(chmod !== undefined ? { chmod } : {}),
      };
    }
  }
  throw fail('unknown instruction');
}

function unsupportedFlag(keyword: string, flag: string): string {
  const known: Record<string, string> = {
    'RUN:mount': 'RUN --mount is not supported by Berth builds',
    'RUN:network': 'RUN --network is not supported by Berth builds (steps have no network)',
    'RUN:security': 'RUN --security is not supported by Berth builds',
    'COPY:link': 'COPY --link is not supported by Berth builds',
    'COPY:parents': 'COPY --parents is not supported by Berth builds',
    'COPY:exclude': 'COPY --exclude is not supported by Berth builds; use .dockerignore',
    'ADD:checksum': 'ADD --checksum is not supported by Berth builds (ADD of URLs is refused)',
    'ADD:keep-git-dir': 'ADD --keep-git-dir is not supported by Berth builds',
    'ADD:from': 'ADD does not take --from; use COPY --from',
    'ADD:link': 'ADD --link is not supported by Berth builds',
  };
  return known[`${keyword}:${flag}`] ?? `unknown flag: --${flag}`;
}

/** Index of the first `=` outside quotes and escapes, or -1. */
function unquotedEquals(word: string, esc: string): number {
  let quote = '';
  for (let i = 0; i < word.length; i++) {
    const c = word[i];
    if (quote) {
      if (c === esc && quote === '"') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === esc) {
      i++;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '=') return i;
  }
  return -1;
}
