/**
 * Image config + create options -> process (agent/runtime/containers/config.ts), and reading the
 * rootfs through layer directories (rootfs.ts) on a fake layer filesystem: whiteouts, opaque
 * directories, symlinks kept inside the rootfs. No root needed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerthError, ErrorCode } from '../../agent/errors';
import { checkName, mergeEnv, parseBind, resolveCommand, resolveProcess, resolveUser } from '../../agent/runtime/containers/config';
import { RootfsReader, type LayerFs } from '../../agent/runtime/containers/rootfs';

type Node =
  | { kind: 'file'; content: string }
  | { kind: 'dir'; opaque?: boolean }
  | { kind: 'symlink'; target: string }
  | { kind: 'whiteout' };

/** Host paths -> nodes; parents are implicit directories. */
function fakeFs(nodes: Record<string, Node>): LayerFs {
  const isDirPrefix = (p: string) => Object.keys(nodes).some((k) => k.startsWith(p + '/'));
  return {
    lstat(p) {
      const n = nodes[p];
      if (n) return { kind: n.kind };
      return isDirPrefix(p) ? { kind: 'dir' } : undefined;
    },
    readlink: (p) => (nodes[p] as { target: string }).target,
    readFile: (p) => Buffer.from((nodes[p] as { content: string }).content),
    isOpaque: (p) => (nodes[p] as { opaque?: boolean } | undefined)?.opaque === true,
  };
}

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n';
const GROUP = 'root:x:0:\napp:x:1000:\nstaff:x:50:app,other\nwheel:x:10:app\n';

function invalid(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof BerthError && e.code === ErrorCode.InvalidArgument && re.test(e.message));
}

describe('rootfs reader', () => {
  const layers = ['/L/up', '/L/mid', '/L/base'];
  const fs = fakeFs({
    '/L/base/etc/passwd': { kind: 'file', content: 'base' },
    '/L/base/etc/group': { kind: 'file', content: 'base-group' },
    '/L/base/opt/a': { kind: 'file', content: 'lower-a' },
    '/L/base/gone/f': { kind: 'file', content: 'x' },
    '/L/base/etc/hostpass': { kind: 'symlink', target: '/../../../../etc/passwd' },
    '/L/base/etc/rel': { kind: 'symlink', target: '../../../etc/group' },
    '/L/mid/etc/passwd': { kind: 'file', content: 'mid' },
    '/L/mid/opt': { kind: 'dir', opaque: true },
    '/L/mid/opt/b': { kind: 'file', content: 'b' },
    '/L/up/etc/group': { kind: 'whiteout' },
    '/L/up/gone': { kind: 'whiteout' },
    '/L/up/loop': { kind: 'symlink', target: '/loop' },
  });
  const r = new RootfsReader(layers, fs);

  it('takes the topmost layer that has the file', () => assert.equal(r.readFile('/etc/passwd')?.toString(), 'mid'));
  it('honours whiteouts of files and directories', () => {
    assert.equal(r.readFile('/etc/group'), undefined);
    assert.equal(r.readFile('/gone/f'), undefined);
  });
  it('an opaque directory hides the lower layers below it', () => {
    assert.equal(r.readFile('/opt/a'), undefined);
    assert.equal(r.readFile('/opt/b')?.toString(), 'b');
  });
  it('symlinks resolve inside the rootfs, never above its root', () => {
    assert.equal(r.readFile('/etc/hostpass')?.toString(), 'mid');
    assert.equal(r.readFile('/etc/rel'), undefined, 'the target /etc/group is whited out');
    assert.equal(r.readFile('/loop'), undefined, 'a symlink loop ends');
  });
  it('directories', () => {
    assert.ok(r.isDirectory('/'));
    assert.ok(r.isDirectory('/etc'));
    assert.ok(!r.isDirectory('/gone'));
    assert.ok(!r.isDirectory('/etc/passwd'));
  });
});

describe('container config', () => {
  const rootfs = new RootfsReader(
    ['/r'],
    fakeFs({
      '/r/etc/passwd': { kind: 'file', content: PASSWD },
      '/r/etc/group': { kind: 'file', content: GROUP },
      '/r/work': { kind: 'dir' },
    }),
  );

  it('users: names, numbers, groups, supplementary groups', () => {
    assert.deepEqual(resolveUser('', rootfs), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
    assert.deepEqual(resolveUser('app', rootfs), { uid: 1000, gid: 1000, additionalGids: [50, 10], home: '/home/app' });
    assert.deepEqual(resolveUser('app:staff', rootfs), { uid: 1000, gid: 50, additionalGids: [10], home: '/home/app' });
    assert.deepEqual(resolveUser('1000:7', rootfs), { uid: 1000, gid: 7, additionalGids: [50, 10], home: '/home/app' });
    assert.deepEqual(resolveUser('4321', rootfs), { uid: 4321, gid: 0, additionalGids: [], home: undefined });
    invalid(() => resolveUser('nobody', rootfs), /unable to find user nobody/);
    invalid(() => resolveUser('app:nogroup', rootfs), /unable to find group nogroup/);
    invalid(() => resolveUser('a:b:c', rootfs), /not uid\[:gid\]/);
  });

  it('entrypoint and cmd overrides, as Docker combines them', () => {
    const img = { Entrypoint: ['/entry'], Cmd: ['default'] };
    assert.deepEqual(resolveCommand(img, {}).args, ['/entry', 'default']);
    assert.deepEqual(resolveCommand(img, { cmd: ['x', 'y'] }).args, ['/entry', 'x', 'y']);
    assert.deepEqual(resolveCommand(img, { entrypoint: ['sh'] }), { entrypoint: ['sh'], cmd: null, args: ['sh'] });
    assert.deepEqual(resolveCommand(img, { entrypoint: [], cmd: ['ls'] }), { entrypoint: null, cmd: ['ls'], args: ['ls'] });
    invalid(() => resolveCommand({}, {}), /no command specified/);
  });

  it('env merges by name, overrides win in place; PATH, HOSTNAME, HOME defaults', () => {
    assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['B=3', 'C=4'], ['A=5']), ['A=5', 'B=3', 'C=4']);
    invalid(() => mergeEnv(['NOEQ']), /not NAME=value/);
    const p = resolveProcess(
      { Env: ['PATH=/img', 'X=img'], Cmd: ['sh'], WorkingDir: '/work', User: 'app' },
      { env: ['X=me', 'HOME=/h'] },
      'host1',
      rootfs,
    );
    assert.deepEqual(p.env, ['PATH=/img', 'HOSTNAME=host1', 'HOME=/h', 'X=me']);
    assert.equal(p.cwd, '/work');
    assert.equal(p.user.uid, 1000);
    const d = resolveProcess({ Cmd: ['sh'] }, {}, 'h', rootfs);
    assert.deepEqual(d.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=h', 'HOME=/root']);
    assert.equal(d.cwd, '/');
    invalid(() => resolveProcess({ Cmd: ['sh'] }, { workingDir: '/nope' }, 'h', rootfs), /does not exist in the image/);
    invalid(() => resolveProcess({ Cmd: ['sh'] }, { workingDir: 'rel' }, 'h', rootfs), /not an absolute path/);
  });

  it('names and binds', () => {
    assert.equal(checkName('/web-1.a_b'), 'web-1.a_b');
    invalid(() => checkName('a'), /invalid container name/);
    invalid(() => checkName('-x'), /invalid container name/);
    invalid(() => checkName('a b'), /invalid container name/);
    assert.deepEqual(parseBind('/h:/c:ro'), { source: '/h', target: '/c', readOnly: true });
    assert.deepEqual(parseBind('/h:/c'), { source: '/h', target: '/c', readOnly: false });
    invalid(() => parseBind('vol:/c'), /must be absolute/);
    invalid(() => parseBind('/h:/c/../x'), /contains "\.\."/);
    invalid(() => parseBind('/h:/c:zz'), /unknown option "zz" \(ro, rw, idmap, idmap=UID:GID\)/);
    assert.deepEqual(parseBind('/h:/c:ro,idmap'), { source: '/h', target: '/c', readOnly: true, idmap: {} });
    assert.deepEqual(parseBind('/h:/c:idmap=1000:1001'), { source: '/h', target: '/c', readOnly: false, idmap: { uid: 1000, gid: 1001 } });
    invalid(() => parseBind('/h:/c:idmap=9999999999:1'), /out of range/);
    invalid(() => parseBind('/h:/c:idmap=1'), /unknown option "idmap=1"/);
  });
});
