/**
 * JSON with comments (JSONC), as devcontainer.json files are written: JSON plus `// line` and
 * `/* block *\/` comments and trailing commas before `]` and `}`. The tokens and the grammar are
 * jsonc-parser's (the scanner VS Code itself reads these files with); this file builds the value
 * and words the first error, for hostile input:
 *
 * - Errors are {@link JsoncError}s with the 1-based line and column of the offending character
 *   ("expected ',' or '}' but found character '\"' at line 3, column 3"), never a generic
 *   SyntaxError. The wording says what was expected there (a value, a property name, ':', ',' or
 *   the closing bracket), which this file knows from where the value stands.
 * - Nesting deeper than {@link MAX_DEPTH} is refused before jsonc-parser recurses further; the
 *   caller bounds the text's size before calling.
 * - Objects are plain objects whose keys are set as own data properties (a key "__proto__" is an
 *   ordinary key, it never changes a prototype). A repeated key keeps its last value, as
 *   JSON.parse does.
 * - Strings and numbers are held to JSON's grammar: no raw control characters in strings, only
 *   JSON's escapes, `\u` with four hex digits; no hex numbers, leading `+` or zero, NaN/Infinity,
 *   and no number that overflows to Infinity. A byte-order mark (U+FEFF) between tokens is
 *   whitespace.
 * - Lines are counted at '\n' for the error's position; a `//` comment ends at '\n' or '\r', as in
 *   VS Code's own reading of the file.
 */
import { type ParseErrorCode, visit } from 'jsonc-parser';

/** Deepest nesting of arrays and objects accepted. */
export const MAX_DEPTH = 64;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export class JsoncError extends Error {
  constructor(
    /** What is wrong, without the position. */
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${reason} at line ${line}, column ${column}`);
    this.name = 'JsoncError';
  }
}

/** jsonc-parser's ParseErrorCode values this file tells apart (the enum is a const enum). */
const E = {
  CloseBraceExpected: 7,
  CloseBracketExpected: 8,
  UnexpectedEndOfComment: 11,
  UnexpectedEndOfString: 12,
  InvalidUnicode: 14,
  InvalidEscapeCharacter: 15,
  InvalidCharacter: 16,
} as const;

/** JSON's number grammar, matched at a number token's start. */
const NUMBER = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
/** A character that may not follow a number or a keyword directly. */
const AFTER_NUMBER = /[0-9A-Za-z.+_-]/;
const AFTER_KEYWORD = /[A-Za-z0-9_$]/;
const KEYWORDS = ['true', 'false', 'null'];

type Expect = 'value' | 'property' | 'colon' | 'next' | 'end';

type Container = { kind: 'object'; value: { [key: string]: JsonValue }; key: string } | { kind: 'array'; value: JsonValue[] };

/** Parses `text` (one JSONC value, surrounded by whitespace and comments only). Throws JsoncError. */
export function parseJsonc(text: string): JsonValue {
  const fail = (reason: string, at: number): never => {
    const [line, column] = where(text, at);
    throw new JsoncError(reason, line, column);
  };
  const describe = (at: number) => describeAt(text, at);
  // jsonc-parser reads a byte-order mark as part of the next word; as a space (same length, so
  // offsets hold) it is whitespace. A string holding one is read again from the original text.
  const scanned = text.replace(/\ufeff/g, ' ');
  const stringAt = (value: string, offset: number, length: number) =>
    scanned === text ? value : (JSON.parse(text.slice(offset, offset + length)) as string);

  const stack: Container[] = [];
  let result: JsonValue | undefined;
  /** What the grammar wants next, for wording an error. */
  let expect: Expect = 'value';
  /**
   * jsonc-parser reports a container's end before it checks for the closing bracket; a missing
   * one is worded from where the parse stood before.
   */
  let closing: { expect: Expect; top: Container } | undefined;

  const store = (v: JsonValue) => {
    const top = stack.at(-1);
    if (!top) result = v;
    else if (top.kind === 'array') top.value.push(v);
    else Object.defineProperty(top.value, top.key, { value: v, enumerable: true, writable: true, configurable: true });
    expect = stack.length === 0 ? 'end' : 'next';
  };
  const open = (c: Container, offset: number) => {
    if (stack.length >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels`, offset);
    stack.push(c);
    expect = c.kind === 'object' ? 'property' : 'value';
  };
  const close = () => {
    const top = stack.pop() as Container;
    closing = { expect, top };
    store(top.value);
  };

  visit(
    scanned,
    {
      onObjectBegin: (offset) => open({ kind: 'object', value: {}, key: '' }, offset),
      onArrayBegin: (offset) => open({ kind: 'array', value: [] }, offset),
      onObjectEnd: close,
      onArrayEnd: close,
      onObjectProperty: (key, offset, length) => {
        (stack.at(-1) as Container & { kind: 'object' }).key = stringAt(key, offset, length);
        expect = 'colon';
      },
      onSeparator: (sep) => {
        expect = sep === ':' || stack.at(-1)?.kind === 'array' ? 'value' : 'property';
      },
      onLiteralValue: (value: JsonValue, offset, length) => {
        if (typeof value === 'number') checkNumber(text, offset, fail);
        else if (typeof value === 'string') value = stringAt(value, offset, length);
        else if (AFTER_KEYWORD.test(text[offset + length] ?? '')) fail(`unexpected ${describe(offset)} where a value was expected`, offset);
        store(value);
      },
      onError: (code: ParseErrorCode, offset) => {
        const c = code as number;
        let at = offset;
        let state = expect;
        let top = stack.at(-1);
        if (c === E.UnexpectedEndOfComment) fail('unterminated /* comment', at);
        if ((c === E.CloseBraceExpected || c === E.CloseBracketExpected) && closing) ({ expect: state, top } = closing);
        // A string or a number is read (and its own errors found) only where a value or a name may stand.
        const stringError =
          c === E.UnexpectedEndOfString || c === E.InvalidCharacter || c === E.InvalidEscapeCharacter || c === E.InvalidUnicode;
        if (stringError && (state === 'value' || state === 'property')) checkString(text, at, fail);
        const ch = text[at];
        if (state === 'value' && (ch === '-' || (ch >= '0' && ch <= '9'))) checkNumber(text, at, fail);
        // A keyword run into other characters ("true-"): the keyword is read, the next character is wrong.
        const word = state === 'value' ? KEYWORDS.find((w) => text.startsWith(w, at)) : undefined;
        if (word && !AFTER_KEYWORD.test(text[at + word.length] ?? '')) {
          at += word.length;
          state = stack.length === 0 ? 'end' : 'next';
        }
        const found = describe(at);
        switch (state) {
          case 'value':
            return fail(`unexpected ${found} where a value was expected`, at);
          case 'property':
            return fail(`expected a property name in double quotes but found ${found}`, at);
          case 'colon':
            return fail(`expected ':' after property "${(top as { key: string }).key.slice(0, 64)}" but found ${found}`, at);
          case 'next':
            return fail(`expected ',' or '${top?.kind === 'array' ? ']' : '}'}' but found ${found}`, at);
          case 'end':
            return fail(`unexpected ${found} after the end of the value`, at);
        }
      },
    },
    { allowTrailingComma: true, disallowComments: false },
  );
  if (result === undefined) return fail(`unexpected ${describe(text.length)} where a value was expected`, text.length);
  return result;
}

/**
 * Holds the number token at `at` to JSON's grammar: fails at the first character that breaks it
 * (or that follows it without a separator), and on a number too large for a double.
 */
function checkNumber(text: string, at: number, fail: (reason: string, at: number) => never): void {
  NUMBER.lastIndex = at;
  const m = NUMBER.exec(text);
  if (!m) fail('invalid number', at);
  const end = at + m[0].length;
  if (AFTER_NUMBER.test(text[end] ?? '')) fail('invalid number', end);
  if (!Number.isFinite(Number(m[0]))) fail('number out of range', at);
}

/** Finds what is wrong with the string starting (at its quote) at `start`, and fails there. */
function checkString(text: string, start: number, fail: (reason: string, at: number) => never): never {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) break;
    if (c < 0x20) fail(`${describeAt(text, i)} in a string (escape it)`, i);
    if (c !== 0x5c) continue;
    const e = text[i + 1];
    if (e === 'u') {
      if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('invalid \\u escape (want four hex digits)', i);
      i += 5;
    } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
    else fail(`invalid escape "\\${e ?? ''}" in a string`, i);
  }
  return fail('unterminated string', start);
}

/** "character 'x'", "character U+000A" for a control character, or "end of file". */
function describeAt(text: string, at: number): string {
  if (at >= text.length) return 'end of file';
  const c = text[at];
  const code = c.charCodeAt(0);
  return code < 0x20 || code === 0x7f ? `character U+${code.toString(16).padStart(4, '0').toUpperCase()}` : `character '${c}'`;
}

/** Line and column (1-based, in UTF-16 code units; lines end at '\n') of `at`. */
function where(text: string, at: number): [number, number] {
  let line = 1;
  let start = 0;
  for (let i = 0; i < at && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return [line, at - start + 1];
}
