import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFlagHelp, parseArgs, UsageError, type FlagSpec } from '../../cli/args';

const specs: FlagSpec[] = [
  { name: 'all', short: 'a', type: 'boolean', help: 'all' },
  { name: 'quiet', short: 'q', type: 'boolean', help: 'quiet' },
  { name: 'output', short: 'o', type: 'string', value: 'FILE', help: 'output' },
  { name: 'env', short: 'e', type: 'strings', help: 'env' },
  { name: 'no-trunc', type: 'boolean', help: 'no trunc' },
  { name: 'count', type: 'number', help: 'count' },
];

test('long flags: bare, =value, separate value', () => {
  assert.deepEqual(parseArgs(['--all', '--output=x.tar', 'ref'], specs), { flags: { all: true, output: 'x.tar' }, args: ['ref'] });
  assert.deepEqual(parseArgs(['--output', 'x.tar', '--no-trunc'], specs), { flags: { output: 'x.tar', 'no-trunc': true }, args: [] });
  assert.deepEqual(parseArgs(['--output='], specs).flags, { output: '' });
  assert.deepEqual(parseArgs(['--all=false'], specs).flags, { all: false });
  assert.deepEqual(parseArgs(['--count', '3'], specs).flags, { count: 3 });
});

test('short flags: alone, combined booleans, attached and separate values', () => {
  assert.deepEqual(parseArgs(['-a', '-q'], specs).flags, { all: true, quiet: true });
  assert.deepEqual(parseArgs(['-aq'], specs).flags, { all: true, quiet: true });
  assert.deepEqual(parseArgs(['-o', 'f'], specs).flags, { output: 'f' });
  assert.deepEqual(parseArgs(['-of'], specs).flags, { output: 'f' });
  assert.deepEqual(parseArgs(['-o=f'], specs).flags, { output: 'f' });
  assert.deepEqual(parseArgs(['-aqo', 'f'], specs).flags, { all: true, quiet: true, output: 'f' });
});

test('repeated flags: strings collect, others keep the last', () => {
  const p = parseArgs(['-e', 'A=1', '--env=B=2', '--env', 'C', '-o', 'x', '-o', 'y'], specs);
  assert.deepEqual(p.flags, { env: ['A=1', 'B=2', 'C'], output: 'y' });
});

test('operands anywhere; -- ends flags; lone - is an operand', () => {
  assert.deepEqual(parseArgs(['a', '-q', 'b'], specs), { flags: { quiet: true }, args: ['a', 'b'] });
  assert.deepEqual(parseArgs(['-q', '--', '-a', '--output', 'x'], specs), { flags: { quiet: true }, args: ['-a', '--output', 'x'] });
  assert.deepEqual(parseArgs(['-'], specs).args, ['-']);
});

test('--help / -h are always known', () => {
  assert.equal(parseArgs(['--help'], specs).flags.help, true);
  assert.equal(parseArgs(['-h'], []).flags.help, true);
});

test('usage errors', () => {
  assert.throws(
    () => parseArgs(['--nope'], specs),
    (e: unknown) => e instanceof UsageError && /unknown flag: --nope/.test(e.message),
  );
  assert.throws(
    () => parseArgs(['-x'], specs),
    (e: unknown) => e instanceof UsageError && /unknown shorthand flag: 'x'/.test(e.message),
  );
  assert.throws(() => parseArgs(['-ax'], specs), UsageError);
  assert.throws(() => parseArgs(['--output'], specs), /flag needs an argument: --output/);
  assert.throws(() => parseArgs(['-o'], specs), /flag needs an argument/);
  assert.throws(() => parseArgs(['--all=maybe'], specs), /want true or false/);
  assert.throws(() => parseArgs(['--count', 'three'], specs), /want a number/);
});

test('flag help is aligned and lists --help', () => {
  const help = formatFlagHelp(specs);
  const lines = help.split('\n');
  assert.equal(lines.length, specs.length + 1);
  assert.match(help, /^ {2}-o, --output FILE {3,}output$/m);
  assert.match(help, /^ {6}--no-trunc {3,}no trunc$/m);
  assert.match(help, /-h, --help/);
  const col = [...specs.map((s) => s.help), 'Print usage'].map((h, i) => lines[i]!.lastIndexOf(h));
  assert.equal(new Set(col).size, 1, help);
});
