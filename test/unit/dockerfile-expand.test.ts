/**
 * Variable substitution in Dockerfile words (expandWord): Docker's `$VAR`, `${VAR}` and modifiers,
 * quotes and escapes, with hostile input (bad substitutions, unterminated quotes, blow-ups).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitWords } from '../../agent/builder/dockerfile';
import { expandWord, MAX_EXPANDED_CHARS, MAX_NESTING } from '../../agent/builder/expand';

const vars: Record<string, string> = { A: 'a', EMPTY: '', SPACE: 'x y', PATH: '/bin' };
const lookup = (n: string) => vars[n];
const x = (w: string, esc = '\\') => expandWord(w, lookup, esc);

describe('expandWord', () => {
  it('substitutes $NAME and ${NAME}; unset is empty; a lone $ stays', () => {
    assert.equal(x('$A/${A}/$UNSET/${UNSET}-'), 'a/a//-');
    assert.equal(x('cost: $5 and $'), 'cost: $5 and $');
    assert.equal(x('${PATH}:/usr/bin'), '/bin:/usr/bin');
    assert.equal(x('$A_B'), '', 'the name takes every name character');
  });

  it('modifiers: :- - :+ + :? ?', () => {
    assert.equal(x('${UNSET:-dflt} ${EMPTY:-dflt} ${A:-dflt}'), 'dflt dflt a');
    assert.equal(x('${UNSET-dflt} ${EMPTY-dflt}'), 'dflt ');
    assert.equal(x('${A:+alt} ${EMPTY:+alt} ${UNSET:+alt}'), 'alt  ');
    assert.equal(x('${EMPTY+alt} ${UNSET+alt}'), 'alt ');
    assert.equal(x('${UNSET:-${A:-no}}'), 'a', 'nested substitution in the operand');
    assert.equal(x('${A:?needed}'), 'a');
    assert.throws(() => x('${UNSET:?is needed}'), /^SyntaxError: UNSET: is needed$/);
    assert.throws(() => x('${EMPTY:?}'), /EMPTY: is not set/);
    assert.equal(x('${EMPTY?}'), '');
  });

  it('quotes: single quotes are literal, double quotes expand; both are removed', () => {
    assert.equal(x(`'$A' "$A" "a 'b'" 'c "d"'`), `$A a a 'b' c "d"`);
    assert.equal(x('"${SPACE}"'), 'x y');
    assert.equal(x('pre"fix"post'), 'prefixpost');
  });

  it('escapes: outside quotes the next character is literal; inside double quotes only " $ and the escape', () => {
    assert.equal(x('\\$A \\"'), '$A "');
    assert.equal(x('"\\$A \\" \\\\ \\n"'), '$A " \\ \\n');
    assert.equal(x('a\\'), 'a\\', 'a final escape stays');
    assert.equal(x('`$A', '`'), '$A', 'the escape directive changes the escape character');
    assert.equal(x('C:\\dir', '`'), 'C:\\dir');
  });

  it('JSON-form words: quotes and escapes are ordinary, $ still expands', () => {
    assert.equal(expandWord(`"$A" '\\x'`, lookup, '\\', { quotes: false }), `"a" '\\x'`);
  });

  it('hostile: bad substitutions, unterminated quotes and braces, unknown modifiers, blow-ups', () => {
    assert.throws(() => x('${}'), /bad substitution/);
    assert.throws(() => x('${1abc}'), /bad substitution/);
    assert.throws(() => x('${A'), /unterminated \$\{A/);
    assert.throws(() => x('${A:-x'), /unterminated/);
    assert.throws(() => x('${A#pre}'), /unsupported modifier "#"/);
    assert.throws(() => x('"open'), /unterminated double quote/);
    assert.throws(() => x("'open"), /unterminated single quote/);
    const big: Record<string, string> = { B: 'b'.repeat(600_000) };
    assert.throws(() => expandWord('$B$B', (n) => big[n]), new RegExp(`longer than ${MAX_EXPANDED_CHARS}`));
    // Nesting is bounded.
    const nested = (n: number) => '${U:-'.repeat(n) + 'end' + '}'.repeat(n);
    assert.equal(x(nested(MAX_NESTING)), 'end');
    assert.throws(() => x(nested(100000)), new RegExp(`nested more than ${MAX_NESTING} deep`));
  });
});

describe('splitWords', () => {
  it('splits at unquoted blanks, keeping quotes and escapes for expansion', () => {
    assert.deepEqual(splitWords(`a "b c" 'd e'  f\\ g\th`, '\\'), ['a', '"b c"', `'d e'`, 'f\\ g', 'h']);
    assert.deepEqual(splitWords('', '\\'), []);
    assert.throws(() => splitWords('"a', '\\'), /unterminated double quote/);
  });
});
