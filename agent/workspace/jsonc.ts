/**
 * A parser for JSON with comments (JSONC), as devcontainer.json files are written: JSON plus
 * `// line` and `/* block *\/` comments and trailing commas before `]` and `}`. Written for
 * hostile input:
 *
 * - Errors are {@link JsoncError}s with the 1-based line and column of the offending character
 *   ("unexpected character '}' at line 4, column 3"), never a generic SyntaxError.
 * - Nesting deeper than {@link MAX_DEPTH} is refused (no recursion blow-up); the caller bounds the
 *   text's size before calling.
 * - Objects are plain objects whose keys are set as own data properties (a key "__proto__" is an
 *   ordinary key, it never changes a prototype). A repeated key keeps its last value, as
 *   JSON.parse does.
 * - Strings are checked as JSON's are: no raw control characters, only JSON's escapes, and
 *   `\u` with exactly four hex digits. Numbers follow JSON's grammar (no hex, no leading `+`, no
 *   NaN/Infinity).
 */

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

/** Parses `text` (one JSONC value, surrounded by whitespace and comments only). Throws JsoncError. */
export function parseJsonc(text: string): JsonValue {
  const p = new Parser(text);
  p.skip();
  const v = p.value(0);
  p.skip();
  if (p.pos < text.length) p.fail(`unexpected ${p.describe()} after the end of the value`);
  return v;
}

class Parser {
  pos = 0;
  constructor(private readonly s: string) {}

  /** Line and column (1-based, in UTF-16 code units) of `at`. */
  private where(at: number): [number, number] {
    let line = 1;
    let start = 0;
    for (let i = 0; i < at && i < this.s.length; i++) {
      if (this.s.charCodeAt(i) === 10) {
        line++;
        start = i + 1;
      }
    }
    return [line, at - start + 1];
  }

  fail(reason: string, at = this.pos): never {
    const [line, column] = this.where(at);
    throw new JsoncError(reason, line, column);
  }

  describe(at = this.pos): string {
    if (at >= this.s.length) return 'end of file';
    const c = this.s[at];
    const code = c.charCodeAt(0);
    return code < 0x20 || code === 0x7f ? `character U+${code.toString(16).padStart(4, '0').toUpperCase()}` : `character '${c}'`;
  }

  /** Skips whitespace and comments. */
  skip(): void {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0xfeff) {
        this.pos++;
      } else if (c === 0x2f /* / */ && s.charCodeAt(this.pos + 1) === 0x2f) {
        const nl = s.indexOf('\n', this.pos + 2);
        this.pos = nl < 0 ? s.length : nl + 1;
      } else if (c === 0x2f && s.charCodeAt(this.pos + 1) === 0x2a /* * */) {
        const end = s.indexOf('*/', this.pos + 2);
        if (end < 0) this.fail('unterminated /* comment');
        this.pos = end + 2;
      } else {
        return;
      }
    }
  }

  value(depth: number): JsonValue {
    const c = this.s[this.pos];
    switch (c) {
      case '{':
        return this.object(depth + 1);
      case '[':
        return this.array(depth + 1);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        if (c === '-' || (c >= '0' && c <= '9')) return this.number();
        return this.fail(`unexpected ${this.describe()} where a value was expected`);
    }
  }

  private literal<T extends JsonValue>(word: string, v: T): T {
    if (this.s.startsWith(word, this.pos)) {
      const after = this.s[this.pos + word.length];
      if (after === undefined || !/[A-Za-z0-9_$]/.test(after)) {
        this.pos += word.length;
        return v;
      }
    }
    return this.fail(`unexpected ${this.describe()} where a value was expected`);
  }

  private number(): number {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.s.slice(this.pos, this.pos + 400));
    if (!m) return this.fail('invalid number');
    const end = this.pos + m[0].length;
    const next = this.s[end];
    if (next !== undefined && /[0-9A-Za-z.+_-]/.test(next)) this.fail('invalid number', end);
    this.pos = end;
    const n = Number(m[0]);
    if (!Number.isFinite(n)) this.fail('number out of range', end - m[0].length);
    return n;
  }

  private string(): string {
    const s = this.s;
    const start = this.pos;
    this.pos++; // the opening quote
    let out = '';
    let run = this.pos;
    for (;;) {
      if (this.pos >= s.length) this.fail('unterminated string', start);
      const c = s.charCodeAt(this.pos);
      if (c === 0x22) {
        out += s.slice(run, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20) this.fail(`${this.describe()} in a string (escape it)`);
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += s.slice(run, this.pos);
      const e = s[this.pos + 1];
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e !== undefined && e in simple) {
        out += simple[e];
        this.pos += 2;
      } else if (e === 'u') {
        const hex = s.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape (want four hex digits)');
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 6;
      } else {
        this.fail(`invalid escape "\\${e ?? ''}" in a string`);
      }
      run = this.pos;
    }
  }

  private checkDepth(depth: number): void {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH} levels`);
  }

  private array(depth: number): JsonValue[] {
    this.checkDepth(depth);
    this.pos++; // [
    const out: JsonValue[] = [];
    this.skip();
    if (this.s[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      this.skip();
      const c = this.s[this.pos];
      if (c === ']') {
        this.pos++;
        return out;
      }
      if (c !== ',') this.fail(`expected ',' or ']' but found ${this.describe()}`);
      this.pos++;
      this.skip();
      if (this.s[this.pos] === ']') {
        // A trailing comma, as JSONC allows.
        this.pos++;
        return out;
      }
    }
  }

  private object(depth: number): { [key: string]: JsonValue } {
    this.checkDepth(depth);
    this.pos++; // {
    const out: { [key: string]: JsonValue } = {};
    this.skip();
    if (this.s[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      if (this.s[this.pos] !== '"') this.fail(`expected a property name in double quotes but found ${this.describe()}`);
      const key = this.string();
      this.skip();
      if (this.s[this.pos] !== ':') this.fail(`expected ':' after property "${key.slice(0, 64)}" but found ${this.describe()}`);
      this.pos++;
      this.skip();
      const v = this.value(depth);
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      this.skip();
      const c = this.s[this.pos];
      if (c === '}') {
        this.pos++;
        return out;
      }
      if (c !== ',') this.fail(`expected ',' or '}' but found ${this.describe()}`);
      this.pos++;
      this.skip();
      if (this.s[this.pos] === '}') {
        this.pos++;
        return out;
      }
    }
  }
}
