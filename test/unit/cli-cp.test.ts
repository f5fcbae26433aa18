/** `berth cp`'s operand parsing and Docker's destination rules (cli/commands/cp.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseOperand, place } from '../../cli/commands/cp';

describe('cp operands', () => {
  it('splits CONTAINER:PATH as Docker does, and leaves local paths alone', () => {
    assert.deepEqual(parseOperand('web:/etc/hosts'), { container: 'web', path: '/etc/hosts' });
    assert.deepEqual(parseOperand('web:etc'), { container: 'web', path: '/etc' });
    for (const local of ['/tmp/a:b', './a:b', 'dir/a:b', '-', 'plain']) assert.deepEqual(parseOperand(local), { path: local });
    assert.throws(() => parseOperand('web:'), /needs a path after the ":"/);
  });
});

describe('cp destination rules', () => {
  it('a file goes into a directory, onto a file, or to a new name', () => {
    assert.deepEqual(place('/d', 'dir', 'other', 'a.txt', false, 'd'), { dir: '/d' });
    assert.deepEqual(place('/d/b.txt', 'file', 'other', 'a.txt', false, 'x'), { dir: '/d', rename: { from: 'a.txt', to: 'b.txt' } });
    assert.deepEqual(place('/d/new', 'missing', 'other', 'a.txt', false, 'x'), { dir: '/d', rename: { from: 'a.txt', to: 'new' } });
    assert.throws(
      () => place('/d/new/', 'missing', 'other', 'a.txt', false, 'c:/d/new/'),
      /destination directory does not exist: c:\/d\/new\//,
    );
    assert.throws(() => place('/d/f/', 'file', 'other', 'a.txt', false, 'f/'), /is not a directory/);
  });

  it('a directory goes into a directory, its contents with "/.", to a new name, never onto a file', () => {
    assert.deepEqual(place('/d', 'dir', 'dir', 'src', false, 'd'), { dir: '/d' });
    assert.deepEqual(place('/d', 'dir', 'dir', 'src', true, 'd'), { dir: '/d', rename: { from: 'src', to: '.' } });
    assert.deepEqual(place('/d/new/', 'missing', 'dir', 'src', false, 'x'), { dir: '/d', rename: { from: 'src', to: 'new' } });
    assert.throws(() => place('/d/f', 'file', 'dir', 'src', false, 'c:/d/f'), /cannot copy a directory to a file: c:\/d\/f/);
  });
});
