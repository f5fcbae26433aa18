/**
 * Variable substitution in Dockerfile words, as Docker does it: `$NAME`, `${NAME}` and the
 * modifiers `${NAME:-default}`, `${NAME-default}`, `${NAME:+alt}`, `${NAME+alt}`, `${NAME:?message}`,
 * `${NAME?message}`, with quote removal and the escape character. The parser (dockerfile.ts) keeps
 * words raw; the builder expands them here once it knows the variables. Bounded in depth and size.
 */

/** Longest variable expansion result, in characters (a guard against `${A}${A}...` blow-ups). */
export const MAX_EXPANDED_CHARS = 1024 * 1024;
/** Deepest nesting of `${A:-${B:-...}}`. */
export const MAX_NESTING = 32;

/** Looks a variable up; undefined when it is not set. */
export type Lookup = (name: string) => string | undefined;

/**
 * Expands one raw word as Docker does: outside quotes the escape character keeps the next
 * character literal; single quotes keep everything literal; double quotes allow `$` expansion and
 * escaping of `"`, `$` and the escape character. `$NAME`, `${NAME}` and the modifiers of the module
 * comment are substituted; an unset variable is empty. Quotes are removed. With `quotes: false`
 * (JSON-form words) quotes and escapes are ordinary characters and only `$` is special.
 * Throws SyntaxError for a bad `${...}`, an unterminated quote or `${NAME:?message}` when unset.
 */
export function expandWord(word: string, lookup: Lookup, esc = '\\', opts: { quotes?: boolean; depth?: number } = {}): string {
  const quotes = opts.quotes !== false;
  const depth = opts.depth ?? 0;
  if (depth > MAX_NESTING) throw new SyntaxError(`substitutions are nested more than ${MAX_NESTING} deep`);
  let out = '';
  let quote = '';
  let i = 0;
  const push = (s: string) => {
    out += s;
    if (out.length > MAX_EXPANDED_CHARS) throw new SyntaxError(`the expansion is longer than ${MAX_EXPANDED_CHARS} characters`);
  };
  while (i < word.length) {
    const c = word[i];
    if (quotes && quote === "'") {
      if (c === "'") quote = '';
      else push(c);
      i++;
      continue;
    }
    if (quotes && c === esc) {
      const next = word[i + 1];
      if (next === undefined) {
        push(c);
        i++;
        continue;
      }
      if (quote === '"' && next !== '"' && next !== '$' && next !== esc) push(c);
      push(next);
      i += 2;
      continue;
    }
    if (quotes && (c === '"' || (c === "'" && quote === ''))) {
      if (quote === c) quote = '';
      else if (quote === '') quote = c;
      else push(c);
      i++;
      continue;
    }
    if (c === '$') {
      const [value, next] = dollar(word, i, lookup, esc, depth);
      push(value);
      i = next;
      continue;
    }
    push(c);
    i++;
  }
  if (quote) throw new SyntaxError(`unterminated ${quote === '"' ? 'double' : 'single'} quote`);
  return out;
}

/** Expands the `$...` at `word[i]`; returns the value and the index after it. */
function dollar(word: string, i: number, lookup: Lookup, esc: string, depth: number): [string, number] {
  const nameAt = (j: number) => {
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(word.slice(j, j + 256));
    return m ? m[0] : '';
  };
  if (word[i + 1] !== '{') {
    const name = nameAt(i + 1);
    if (!name) return ['$', i + 1];
    return [lookup(name) ?? '', i + 1 + name.length];
  }
  const name = nameAt(i + 2);
  if (!name) throw new SyntaxError(`bad substitution in "${word.slice(i, i + 32)}": want \${NAME}`);
  let j = i + 2 + name.length;
  if (j >= word.length) throw new SyntaxError(`unterminated \${${name} (missing "}")`);
  if (word[j] === '}') return [lookup(name) ?? '', j + 1];
  let op = word[j];
  if (op === ':') {
    op = ':' + (word[j + 1] ?? '');
    j += 2;
  } else j += 1;
  if (![':-', '-', ':+', '+', ':?', '?'].includes(op))
    throw new SyntaxError(`unsupported modifier "${op}" in \${${name}...}: Berth knows :- - :+ + :? ?`);
  // The operand runs to the matching "}", nested ${...} allowed.
  let open = 1;
  let k = j;
  for (; k < word.length; k++) {
    if (word[k] === esc) {
      k++;
      continue;
    }
    if (word[k] === '$' && word[k + 1] === '{') {
      open++;
      k++;
    } else if (word[k] === '}' && --open === 0) break;
  }
  if (k >= word.length) throw new SyntaxError(`unterminated \${${name}... (missing "}")`);
  const operand = () => expandWord(word.slice(j, k), lookup, esc, { quotes: false, depth: depth + 1 });
  const v = lookup(name);
  const setNonEmpty = v !== undefined && v !== '';
  const set = op.startsWith(':') ? setNonEmpty : v !== undefined;
  let value: string;
  switch (op) {
    case ':-':
    case '-':
      value = set ? v! : operand();
      break;
    case ':+':
    case '+':
      value = set ? operand() : '';
      break;
    default:
      if (!set) throw new SyntaxError(`${name}: ${operand() || 'is not set'}`);
      value = v!;
  }
  return [value, k + 1];
}
