/**
 * `berth cp` both ways, with a real agent and real containers (running and stopped), through the
 * CLI as users run it: Docker's destination rules, owners, links, tar streams on stdin/stdout,
 * and the attacks a copy invites (a container's links pointing at the host, a hostile tar, ".."
 * in paths). Nothing may be written outside the destination or the container.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, chownSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { StartContainerRequest } from '../../protocol';
import { BUNDLE, type CliResult } from '../support/agent';
import { ok } from '../support/expect';
import { containerSuite } from '../support/suite';
import { makeTempDir } from '../support/tmp';
import { rawHeader, endOfArchive, contentPadding } from '../../agent/oci/tarWriter';

/** `berth ARGS` with `input` on its stdin (bounded). */
function berthIn(args: string[], env: NodeJS.ProcessEnv, input: Buffer): CliResult {
  const r = spawnSync(process.execPath, [BUNDLE, ...args], { env, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr } as CliResult;
}

/** `berth ARGS | sh -c PIPE`: the CLI's stdout through a shell pipeline (bounded). */
function berthPipe(args: string[], env: NodeJS.ProcessEnv, pipe: string): string {
  const cmd = `${[process.execPath, BUNDLE, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')} | ${pipe}`;
  return spawnSync('sh', ['-c', cmd], { env, encoding: 'utf8', timeout: 60_000 }).stdout;
}

describe('cp', () => {
  const s = containerSuite({ repo: 'cp/box' });
  const { cli } = s;
  const create = async (...cmd: string[]): Promise<string> => s.track(ok(await cli(['create', s.ref, ...cmd]), 'create').stdout.trim());

  it('copies a host file into a stopped container and back, with Docker naming rules', async () => {
    const host = await makeTempDir('berth-cp-');
    writeFileSync(join(host, 'a.txt'), 'hello\n', { mode: 0o640 });
    const id = await create('cat', '/etc/a.txt', '/etc/b.txt', '/root/a.txt');
    ok(await cli(['cp', join(host, 'a.txt'), `${id}:/etc/`]), 'cp into a dir');
    ok(await cli(['cp', join(host, 'a.txt'), `${id}:/etc/b.txt`]), 'cp to a new name');
    ok(await cli(['cp', join(host, 'a.txt'), `${id}:/root`]), 'cp into a dir without slash');
    // The container sees them when it runs, owned by root, mode kept.
    ok(await cli(['start', id]), 'start');
    const out = ok(await cli(['wait', id]), 'wait');
    assert.equal(out.stdout.trim(), '0');
    assert.equal(ok(await cli(['logs', id]), 'logs').stdout, 'hello\nhello\nhello\n');
    // Back out of the (stopped) container, to a new name and into a directory.
    ok(await cli(['cp', `${id}:/etc/b.txt`, join(host, 'back.txt')]), 'cp out to a name');
    assert.equal(readFileSync(join(host, 'back.txt'), 'utf8'), 'hello\n');
    assert.equal(statSync(join(host, 'back.txt')).mode & 0o777, 0o640);
    mkdirSync(join(host, 'out'));
    ok(await cli(['cp', `${id}:/etc/passwd`, join(host, 'out')]), 'cp out into a dir');
    assert.match(readFileSync(join(host, 'out', 'passwd'), 'utf8'), /^root:/);
    // Errors name what is wrong.
    const missing = await cli(['cp', `${id}:/nope`, host]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such file or directory: \/nope/);
    const noDir = await cli(['cp', join(host, 'a.txt'), `${id}:/no/such/dir/`]);
    assert.equal(noDir.code, 1);
    assert.match(noDir.stderr, /destination directory does not exist/);
  });

  it('copies directories both ways into a running container, contents with "/.", hard and soft links kept', async () => {
    const host = await makeTempDir('berth-cp-');
    const tree = join(host, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    writeFileSync(join(tree, 'sub', 'f'), 'F');
    spawnSync('ln', [join(tree, 'sub', 'f'), join(tree, 'hard')]);
    symlinkSync('sub/f', join(tree, 'soft'));
    const id = await create('sleep', '600');
    ok(await cli(['start', id]), 'start');
    ok(await cli(['cp', tree, `${id}:/root`]), 'cp dir into dir');
    ok(await cli(['cp', `${tree}/.`, `${id}:/tmp`]), 'cp contents');
    ok(await cli(['cp', tree, `${id}:/opt`]), 'cp dir to a new name (/opt is not in the image)');
    const ls = ok(
      await cli([
        'exec',
        id,
        'sh',
        '-c',
        'cat /root/tree/sub/f /tmp/sub/f /opt/hard; readlink /root/tree/soft; stat -c %h /root/tree/hard',
      ]),
      'exec',
    );
    assert.equal(ls.stdout, 'FFFsub/f\n2\n');
    // A file the container writes comes back out; a running container's /proc is not copied.
    ok(await cli(['exec', id, 'sh', '-c', 'mkdir -p /data/x && echo made > /data/x/y']), 'exec write');
    ok(await cli(['cp', `${id}:/data`, join(host, 'data')]), 'cp dir out');
    assert.equal(readFileSync(join(host, 'data', 'x', 'y'), 'utf8'), 'made\n');
    const names = berthPipe(['cp', `${id}:/`, '-'], s.env, 'tar -t');
    assert.match(names, /^etc\/passwd$/m, 'the copy of / has the image files');
    assert.match(names, /^proc\/$/m, 'the mount point itself is there');
    assert.doesNotMatch(names, /^proc\/./m, 'no entries under proc/ in a copy of /');
  });

  it('keeps owners with -a, gives root the files otherwise, and streams tars with "-"', async () => {
    const host = await makeTempDir('berth-cp-');
    writeFileSync(join(host, 'owned'), 'o');
    chownSync(join(host, 'owned'), 1234, 4321);
    const id = await create('true');
    ok(await cli(['cp', '-a', join(host, 'owned'), `${id}:/tmp/kept`]), 'cp -a');
    ok(await cli(['cp', join(host, 'owned'), `${id}:/tmp/root`]), 'cp');
    const tar = spawnSync('tar', ['-cf', '-', '-C', host, 'owned'], { encoding: 'buffer' }).stdout;
    ok(berthIn(['cp', '-', `${id}:/root`], s.env, tar), 'cp - from stdin');
    const list = berthPipe(['cp', `${id}:/tmp`, '-'], s.env, 'tar -tv --numeric-owner');
    assert.match(list, /1234\/4321 .* tmp\/kept/);
    assert.match(list, /0\/0 .* tmp\/root/);
    assert.equal(berthPipe(['cp', `${id}:/root/owned`, '-'], s.env, 'tar -xO'), 'o');
  });

  it("a container's links cannot lead a copy out: not into the host, not out of the destination", async () => {
    const host = await makeTempDir('berth-cp-');
    const secret = join(host, 'secret');
    writeFileSync(secret, 'host secret');
    // In the container: a link to the host's path, and a directory link to "/".
    const id = await create('true');
    const script = `ln -s ${secret} /evil && mkdir /d && ln -s / /d/up && echo inside > /etc/mine`;
    const prep = await create('sh', '-c', script);
    ok(await cli(['start', '-a', prep]), 'prepare');
    // Reading through a link resolves inside the container: /evil is the container's path.
    const r = await cli(['cp', '-L', `${prep}:/evil`, join(host, 'got')]);
    assert.equal(r.code, 1, 'the target does not exist inside the container');
    assert.match(r.stderr, /no such file or directory/);
    // /d/up/etc/mine resolves to the container's /etc/mine, never the host's /etc.
    ok(await cli(['cp', `${prep}:/d/up/etc/mine`, join(host, 'mine')]), 'cp through a dir link');
    assert.equal(readFileSync(join(host, 'mine'), 'utf8'), 'inside\n');
    // Copying /d out keeps "up" a link and writes nothing outside the destination.
    ok(await cli(['cp', `${prep}:/d`, join(host, 'dcopy')]), 'cp out a dir with a link to /');
    assert.equal(readlinkSync(join(host, 'dcopy', 'up')), '/');
    assert.equal(readFileSync(secret, 'utf8'), 'host secret');
    // Writing into the container through its link to the host path stays in the container.
    ok(await cli(['cp', join(host, 'mine'), `${prep}:/evil`]), 'cp onto a dangling link');
    assert.equal(readFileSync(secret, 'utf8'), 'host secret', 'the host file behind the name is untouched');
    void id;
  });

  it('refuses hostile archives from stdin: "..", links then files through them, device nodes', async () => {
    const host = await makeTempDir('berth-cp-');
    const id = await create('true');
    const file = (name: string, body: string) =>
      Buffer.concat([rawHeader({ name, size: body.length }), Buffer.from(body), contentPadding(body.length)]);
    const cases: [string, Buffer, RegExp][] = [
      ['dotdot', Buffer.concat([file('../../../../tmp/berth-escape', 'x'), endOfArchive()]), /has a "\.\." component/],
      ['device', Buffer.concat([rawHeader({ name: 'sda', typeflag: '4', devmajor: 8, devminor: 0 }), endOfArchive()]), /device node/],
      ['garbage', Buffer.from('not a tar archive at all'.repeat(40)), /tar|archive/i],
    ];
    for (const [what, tar, re] of cases) {
      const r = berthIn(['cp', '-', `${id}:/tmp`], s.env, tar);
      assert.equal(r.code, 1, `${what}: ${r.stdout} ${r.stderr}`);
      assert.match(r.stderr, re, what);
    }
    assert.ok(!existsSync('/tmp/berth-escape'));
    // A link in the archive, then a file "through" it: resolved inside the container only. To a
    // host path (absent in the container): refused; to the container's /etc: lands there.
    const toHost = Buffer.concat([rawHeader({ name: 'l', typeflag: '2', linkname: host }), file('l/planted', 'p'), endOfArchive()]);
    const r = berthIn(['cp', '-', `${id}:/tmp`], s.env, toHost);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no such file or directory: \/tmp\/l/);
    assert.ok(!existsSync(join(host, 'planted')), 'nothing written to the host through the link');
    const toEtc = Buffer.concat([rawHeader({ name: 'e', typeflag: '2', linkname: '/etc' }), file('e/planted', 'p'), endOfArchive()]);
    ok(berthIn(['cp', '-', `${id}:/tmp`], s.env, toEtc), 'cp a link then a file through it');
    assert.equal(berthPipe(['cp', `${id}:/etc/planted`, '-'], s.env, 'tar -xO'), 'p');
    assert.ok(!existsSync('/etc/planted'));
  });

  it('a stopped container being copied cannot start meanwhile, and starts after', async () => {
    const id = await create('true');
    const big = await makeTempDir('berth-cp-');
    writeFileSync(join(big, 'f'), Buffer.alloc(8 << 20, 1));
    const copy = cli(['cp', join(big, 'f'), `${id}:/f`]);
    // Either the start came first (then the copy goes through the running container) or it is
    // refused while the copy holds the filesystem; never both at once.
    let refused = false;
    try {
      await s.conn.sendRequest(StartContainerRequest.type, { container: id });
    } catch (e) {
      refused = /being copied/.test((e as Error).message);
      assert.ok(refused, String(e));
    }
    ok(await copy, 'cp');
    if (refused) ok(await cli(['start', id]), 'start after the copy');
  });
});
