/**
 * The answers "Run Image..." asks for, checked and turned into `container/create` params. Plain
 * TypeScript (tested without VS Code); the messages are English and the command words them
 * through l10n by their key.
 */
import type { CreateContainerParams } from '../../../protocol';

/** What the user typed, as typed: remembered per image and offered next time. */
export interface RunAnswers {
  name: string;
  /** "K=V, K2=V2" (comma-separated; a value may not contain a comma). */
  env: string;
  /** "/host:/ctr[:ro]" or "". */
  bind: string;
  /** The command override, shell-like words ("sh -c 'echo hi'"), or "" for the image's. */
  command: string;
}

export const NO_ANSWERS: RunAnswers = { name: '', env: '', bind: '', command: '' };

export type Problem = 'badName' | 'badEnv' | 'badBind' | 'unbalancedQuote';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function checkName(s: string): Problem | undefined {
  const t = s.trim();
  return t === '' || NAME.test(t) ? undefined : 'badName';
}

/** "A=1, B=2" -> ["A=1", "B=2"]. */
export function parseEnv(s: string): string[] | Problem {
  const out: string[] = [];
  for (const part of s.split(',')) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    if (eq <= 0 || /\s/.test(t.slice(0, eq))) return 'badEnv';
    out.push(t);
  }
  return out;
}

/** "/src:/work:ro" as given, checked: absolute paths, an optional ro or rw. */
export function checkBind(s: string): Problem | undefined {
  const t = s.trim();
  if (!t) return undefined;
  const parts = t.split(':');
  if (parts.length < 2 || parts.length > 3) return 'badBind';
  const [host, ctr, mode] = parts;
  if (!host!.startsWith('/') || !ctr!.startsWith('/')) return 'badBind';
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') return 'badBind';
  return undefined;
}

/** Shell-like words: spaces separate, '...' and "..." quote, backslash escapes outside '...'. */
export function splitCommand(s: string): string[] | Problem {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) return 'unbalancedQuote';
  if (inWord) words.push(cur);
  return words;
}

/** The `container/create` params for `image` and the answers; throws the first problem. */
export function createParams(image: string, a: RunAnswers): CreateContainerParams {
  const params: CreateContainerParams = { image };
  const problem = checkName(a.name) ?? checkBind(a.bind);
  if (problem) throw new Error(problem);
  if (a.name.trim()) params.name = a.name.trim();
  const env = parseEnv(a.env);
  if (typeof env === 'string') throw new Error(env);
  if (env.length) params.env = env;
  if (a.bind.trim()) params.binds = [a.bind.trim()];
  const cmd = splitCommand(a.command);
  if (typeof cmd === 'string') throw new Error(cmd);
  if (cmd.length) params.cmd = cmd;
  return params;
}
