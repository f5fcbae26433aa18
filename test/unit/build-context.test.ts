/**
 * The build context (agent/builder/context.ts): .dockerignore rules, COPY wildcards, resolution of
 * symlinks inside the context only, the check that a file opened is the file resolved (a
 * directory swapped for a symlink is refused), and reads on behalf of a non-root caller.
 */
import assert from 'node:assert/strict';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BuildContext, cleanRelative, globComponent, IgnoreMatcher } from '../../agent/builder/context';
import { BerthError } from '../../agent/errors';
import { ErrorCode } from '../../protocol';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'berth-ctx-'));
  roots.push(root);
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), c);
  }
  return root;
}

describe('.dockerignore', () => {
  it("Docker's rules: globs, **, parents, ! exceptions, the last match wins, comments, leading /", () => {
    const m = new IgnoreMatcher(
      '# comment\n*.log\n/build\n**/*.tmp\ndocs/*/draft\nsecret*\n!secret-ok.txt\n\n  spaced  \nvendor\n!vendor/keep\n',
    );
    const yes = [
      'a.log',
      'build',
      'build/x/y',
      'x.tmp',
      'deep/er/x.tmp',
      'docs/a/draft',
      'docs/a/draft/more',
      'secret.txt',
      'spaced',
      'vendor/x',
      'vendor',
    ];
    const no = ['a/b.log', 'src/build', 'docs/draft', 'secret-ok.txt', 'vendor/keep', 'vendor/keep/inner', 'keep.txt', ''];
    for (const p of yes) assert.equal(m.excludes(p), true, `${p} is excluded`);
    for (const p of no) assert.equal(m.excludes(p), false, `${p} is not excluded`);
    assert.equal(m.hasExclusions, true);
    assert.equal(new IgnoreMatcher('').empty, true);
  });

  it('character classes, escapes and ? as in Go', () => {
    const m = new IgnoreMatcher('file[0-9].txt\n[!a]x\nq?\nlit\\*star\n');
    assert.equal(m.excludes('file5.txt'), true);
    assert.equal(m.excludes('filea.txt'), false);
    assert.equal(m.excludes('bx'), true);
    assert.equal(m.excludes('ax'), false);
    assert.equal(m.excludes('qz'), true);
    assert.equal(m.excludes('qzz'), false);
    assert.equal(m.excludes('lit*star'), true);
    assert.equal(m.excludes('litXstar'), false);
  });

  it('cleanRelative and globComponent', () => {
    assert.equal(cleanRelative('/./a//b/../c/'), 'a/c');
    assert.equal(cleanRelative('../../x'), 'x');
    assert.equal(globComponent('*.txt').test('a.txt'), true);
    assert.equal(globComponent('*.txt').test('a/b.txt'), false);
    assert.throws(() => globComponent('[abc'), /unterminated \[/);
  });
});

describe('BuildContext', () => {
  it('resolves symlinks inside the context only: absolute targets and .. start again at its root', () => {
    const outside = tree({ secret: 'outside\n' });
    const root = tree({ 'in/real.txt': 'real\n', secret: 'the context one\n' });
    symlinkSync(join(outside, 'secret'), join(root, 'abs'));
    symlinkSync('../../../../../../secret', join(root, 'in', 'up'));
    symlinkSync('real.txt', join(root, 'in', 'rel'));
    symlinkSync('/', join(root, 'in', 'slash'));
    const ctx = BuildContext.open(root, undefined);
    // The absolute target names a path under the context root, which does not exist.
    assert.equal(ctx.resolve('abs'), undefined);
    assert.equal(ctx.resolve('in/up')?.abs, join(ctx.root, 'secret'));
    assert.equal(ctx.resolve('in/rel')?.abs, join(ctx.root, 'in', 'real.txt'));
    assert.equal(ctx.resolve('in/slash/in/real.txt')?.abs, join(ctx.root, 'in', 'real.txt'));
    assert.equal(ctx.resolve('in/rel', false)?.st.isSymbolicLink(), true);
    assert.equal(ctx.resolve('../../secret')?.abs, join(ctx.root, 'secret'));
  });

  it('walks without following symlinks, leaving out what .dockerignore excludes but not what ! brings back', () => {
    const root = tree({
      'a/x.txt': '',
      'a/y.log': '',
      'logs/keep.log': '',
      'logs/other.log': '',
      '.dockerignore': '*.log\n**/*.log\n!logs/keep.log\n',
    });
    symlinkSync('/etc', join(root, 'a', 'etc-link'));
    const ctx = BuildContext.open(root, undefined);
    const seen: string[] = [];
    ctx.walk(ctx.resolve('')!, (e) => seen.push(e.rel));
    assert.deepEqual(seen, ['.dockerignore', 'a', 'a/etc-link', 'a/x.txt', 'logs', 'logs/keep.log']);
    assert.deepEqual(
      ctx.glob('*/*.txt').map((e) => e.rel),
      ['a/x.txt'],
    );
    assert.deepEqual(
      ctx.glob('logs/*').map((e) => e.rel),
      ['logs/keep.log'],
    );
  });

  it('refuses a file whose directory was swapped for a symlink after it was resolved', () => {
    const outside = tree({ file: 'outside\n' });
    const root = tree({ 'dir/file': 'inside\n' });
    const ctx = BuildContext.open(root, undefined);
    const e = ctx.resolve('dir/file')!;
    renameSync(join(root, 'dir'), join(root, 'dir.old'));
    symlinkSync(outside, join(root, 'dir'));
    assert.throws(
      () => ctx.openFile(e),
      (err: unknown) =>
        err instanceof BerthError &&
        err.code === ErrorCode.PermissionDenied &&
        /changed while the build context was read/.test(err.message),
    );
  });

  it('reads for a non-root caller only what it could read itself', () => {
    const root = tree({ 'open.txt': 'ok\n', 'private.txt': 'no\n', 'closed/inner.txt': 'no\n' });
    chmodSync(root, 0o755);
    chmodSync(join(root, 'open.txt'), 0o644);
    chmodSync(join(root, 'private.txt'), 0o600);
    chmodSync(join(root, 'closed'), 0o700);
    const peer = { uid: 65534, gid: 65534, pid: 1 };
    const ctx = BuildContext.open(root, peer);
    closeSync(ctx.openFile(ctx.resolve('open.txt')!).fd);
    assert.throws(
      () => ctx.openFile(ctx.resolve('private.txt')!),
      /permission denied: uid 65534 may not read .*private.txt of the build context \(the file is not readable for it\)/,
    );
    assert.throws(() => ctx.list(ctx.resolve('closed')!), /may not read .*closed of the build context/);
    assert.throws(() => ctx.resolve('closed/inner.txt'), /closed of the build context \(the directory is not searchable for it\)/);
    // A context the caller cannot read at all.
    chmodSync(root, 0o700);
    assert.throws(
      () => BuildContext.open(root, peer),
      (err: unknown) => err instanceof BerthError && err.code === ErrorCode.PermissionDenied,
    );
    // Root reads everything.
    const asRoot = BuildContext.open(root, { uid: 0, gid: 0, pid: 1 });
    closeSync(asRoot.openFile(asRoot.resolve('private.txt')!).fd);
  });

  it('a context that is not an absolute path of a directory is refused', () => {
    const root = tree({ f: '' });
    assert.throws(() => BuildContext.open('relative/dir', undefined), /must be an absolute path/);
    assert.throws(() => BuildContext.open(join(root, 'missing'), undefined), /does not exist/);
    assert.throws(() => BuildContext.open(join(root, 'f'), undefined), /is not a directory/);
  });
});
