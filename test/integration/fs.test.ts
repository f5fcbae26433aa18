/**
 * Browse Files against a real agent (the built bundle), a busybox image from a real registry and
 * real containers: `fs/stat`, `fs/readDirectory` and `fs/readFile` on an image, on an exited
 * container (its writable layer over the image: added, changed, deleted files, an opaque
 * directory, the runtime's /etc/hosts) and on a running one (live changes). Hostile paths and
 * links: "..", NUL, relative paths, symlink loops, absolute and relative links aimed at the
 * host's /etc/shadow, a link to "/", fifos, files over the size cap. Every container is removed
 * and the agent stopped in cleanup.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc';
import {
  ErrorCode,
  FsReadDirectoryRequest,
  FsReadFileRequest,
  FsStatRequest,
  InspectImageRequest,
  PullRequest,
  type FsTarget,
} from '../../protocol';
import { berth, startAgent, type TestAgent } from '../support/agent';
import { removeAllContainers } from '../support/containers';
import { expectAgentError, ok } from '../support/expect';
import { busyboxImage, PASSWD } from '../support/images';
import { pushImage } from '../support/push';
import { startRegistry, type TestRegistry } from '../support/registry';
import { requireTools, runCleanups } from '../support/tmp';

/** What container `fs-one` does to its files before it exits. */
const CHANGES = [
  'set -e',
  "echo 'extra:x:5:5::/:/bin/sh' >> /etc/passwd",
  'rm /etc/group',
  'echo container-shadow > /etc/shadow',
  'ln -s /etc/shadow /abs-shadow',
  'ln -s ../../../../../../../etc/shadow /tmp/rel-shadow',
  'ln -s /root/.bashrc /host-only',
  'ln -s /loop-b /loop-a && ln -s loop-a /loop-b',
  'ln -s / /hostroot',
  'ln -s /etc /etc-link',
  'rm -rf /home && mkdir /home && echo n > /home/new',
  'mkfifo /fifo',
  'dd if=/dev/zero of=/big bs=1048576 count=17 2>/dev/null',
  'echo hello > /hello',
].join('; ');

describe('fs/*: Browse Files served by the agent from the layers', () => {
  let registry: TestRegistry;
  let agent: TestAgent;
  let env: NodeJS.ProcessEnv;
  let ref: string;
  let conn: MessageConnection;
  let imageId: string;

  const cli = async (args: string[]) => ok(await berth(args, env, 60_000), `berth ${args.join(' ')}`);
  const stat = (target: FsTarget, path: string) => conn.sendRequest(FsStatRequest.type, { target, path });
  const list = async (target: FsTarget, path: string) => (await conn.sendRequest(FsReadDirectoryRequest.type, { target, path })).entries;
  const names = async (target: FsTarget, path: string) => (await list(target, path)).map((e) => e.name);
  const read = async (target: FsTarget, path: string) => {
    const r = await conn.sendRequest(FsReadFileRequest.type, { target, path });
    const data = Buffer.from(r.data, 'base64');
    assert.equal(data.length, r.size);
    return data;
  };
  const text = async (target: FsTarget, path: string) => (await read(target, path)).toString('utf8');
  const c1: FsTarget = { container: 'fs-one' };

  before(async () => {
    requireTools(['docker-registry', 'tar', 'gzip']);
    registry = await startRegistry();
    await pushImage(registry, 'fs/box', 'v1', await busyboxImage());
    ref = `${registry.host}/fs/box:v1`;
    agent = await startAgent();
    env = { ...agent.env, BERTH_NO_AUTOSTART: '1' };
    conn = await agent.connect();
    await conn.sendRequest(PullRequest.type, { reference: ref });
    imageId = (await conn.sendRequest(InspectImageRequest.type, { reference: ref })).Id;
    await cli(['run', '--name', 'fs-one', ref, 'sh', '-c', CHANGES]);
  });

  after(async () => {
    if (agent) await removeAllContainers(conn);
    await runCleanups();
  });

  it("reads an image's files: the root, a file, a symlink reported as one and read through", async () => {
    const image: FsTarget = { image: ref };
    const root = await list(image, '/');
    for (const n of ['bin', 'etc', 'home', 'tmp'])
      assert.ok(
        root.some((e) => e.name === n && e.type === 'dir' && !e.symlink),
        `/${n} listed as a directory`,
      );
    assert.equal(await text(image, '/etc/passwd'), PASSWD);
    assert.equal(await text({ image: imageId }, '/etc/passwd'), PASSWD, 'the image ID names it too');
    const sh = await stat(image, '/bin/sh');
    assert.deepEqual(
      { type: sh.type, symlink: sh.symlink, linkTarget: sh.linkTarget, layer: sh.layer },
      { type: 'file', symlink: true, linkTarget: 'busybox', layer: 0 },
    );
    assert.equal(sh.size, readFileSync('/bin/busybox').length);
    assert.ok((await read(image, '/bin/sh')).equals(readFileSync('/bin/busybox')), '/bin/sh reads through to busybox');
    const bin = await list(image, '/bin');
    assert.deepEqual(
      bin.find((e) => e.name === 'sh'),
      { name: 'sh', type: 'file', symlink: true },
    );
    const tmp = await stat(image, '/tmp');
    assert.equal(tmp.type, 'dir');
    assert.equal(tmp.mode, 0o1777);
    const homeApp = await stat(image, '/home/app');
    assert.deepEqual([homeApp.uid, homeApp.gid], [1000, 1000]);
    await expectAgentError(read(image, '/hello'), ErrorCode.NotFound, /read file "\/hello" in image .*: no such file or directory/);
  });

  it("shows an exited container's view: its writable layer over the image, whiteouts and opaque dirs applied", async () => {
    assert.equal(await text(c1, '/hello'), 'hello\n');
    assert.equal((await stat(c1, '/hello')).layer, undefined, "the container's own file has no image layer");
    assert.equal(await text(c1, '/etc/passwd'), PASSWD + 'extra:x:5:5::/:/bin/sh\n');
    // The image still has the original.
    assert.equal(await text({ image: ref }, '/etc/passwd'), PASSWD);
    // Deleted in the container (a whiteout): gone from the file and from the listing.
    const e = await expectAgentError(
      read(c1, '/etc/group'),
      ErrorCode.NotFound,
      /read file "\/etc\/group" in container fs-one: no such file or directory/,
    );
    assert.equal(e.data.errno, 'ENOENT');
    assert.equal(e.data.path, '/etc/group');
    const etc = await names(c1, '/etc');
    assert.ok(!etc.includes('group') && etc.includes('passwd') && etc.includes('shadow'), `/etc lists ${etc.join(' ')}`);
    assert.ok((await names({ image: ref }, '/etc')).includes('group'));
    // /home was replaced wholesale (an opaque dir): the image's /home/app is hidden.
    assert.deepEqual(await names(c1, '/home'), ['new']);
    await expectAgentError(stat(c1, '/home/app'), ErrorCode.NotFound);
    // The runtime's /etc/hosts (bound in at start), not the empty mount point of the upper dir.
    assert.match(await text(c1, '/etc/hosts'), /127\.0\.0\.1\tlocalhost/);
    // A symlink to a directory lists the directory, inside the rootfs.
    assert.ok((await names(c1, '/etc-link')).includes('passwd'));
    const link = await stat(c1, '/etc-link');
    assert.deepEqual([link.type, link.symlink, link.linkTarget], ['dir', true, '/etc']);
  });

  it("never leaves the rootfs: absolute and relative links to /etc/shadow read the container's own", async () => {
    const hostShadow = readFileSync('/etc/shadow', 'utf8');
    assert.notEqual(hostShadow, 'container-shadow\n');
    assert.equal(await text(c1, '/abs-shadow'), 'container-shadow\n');
    assert.equal(await text(c1, '/tmp/rel-shadow'), 'container-shadow\n');
    // A link to a host file the container does not have: not found, although the host has it.
    const host = await stat(c1, '/host-only');
    assert.deepEqual(
      [host.type, host.symlink, host.linkTarget],
      ['symlink', true, '/root/.bashrc'],
      'a dangling link is reported as a link',
    );
    await expectAgentError(read(c1, '/host-only'), ErrorCode.NotFound);
    // A link to "/" is the container's root, not the host's.
    const root = await names(c1, '/hostroot');
    assert.ok(root.includes('hello') && root.includes('abs-shadow'), `/hostroot lists ${root.join(' ')}`);
    assert.equal(await text(c1, '/hostroot/hostroot/etc/shadow'), 'container-shadow\n');
  });

  it('refuses hostile paths and special files with a clear error', async () => {
    const bad = async (p: Promise<unknown>, code: number, re: RegExp, errno?: string) => {
      const e = await expectAgentError(p, code, re);
      if (errno) assert.equal(e.data.errno, errno, e.message);
    };
    await bad(read(c1, '/../../../etc/shadow'), ErrorCode.InvalidArgument, /must not contain "\.\."/, 'EINVAL');
    await bad(read(c1, '/etc/../../etc/shadow'), ErrorCode.InvalidArgument, /must not contain "\.\."/, 'EINVAL');
    await bad(read(c1, '/etc/passwd\0/x'), ErrorCode.InvalidArgument, /NUL/, 'EINVAL');
    await bad(read(c1, 'etc/passwd'), ErrorCode.InvalidArgument, /must be absolute/, 'EINVAL');
    await bad(read(c1, '/' + 'a'.repeat(300)), ErrorCode.InvalidArgument, /longer than 255 bytes/, 'EINVAL');
    await bad(read(c1, '/loop-a'), ErrorCode.InvalidArgument, /too many levels of symbolic links/, 'ELOOP');
    const loop = await stat(c1, '/loop-a');
    assert.deepEqual([loop.type, loop.symlink], ['symlink', true]);
    await bad(list(c1, '/loop-a/x'), ErrorCode.InvalidArgument, /too many levels/, 'ELOOP');
    await bad(read(c1, '/etc'), ErrorCode.InvalidArgument, /is a directory/, 'EISDIR');
    await bad(list(c1, '/hello'), ErrorCode.InvalidArgument, /not a directory/, 'ENOTDIR');
    await bad(read(c1, '/hello/x'), ErrorCode.InvalidArgument, /not a directory/, 'ENOTDIR');
    // A fifo is never opened (opening it would block the agent).
    assert.equal((await stat(c1, '/fifo')).type, 'other');
    await bad(read(c1, '/fifo'), ErrorCode.InvalidArgument, /not a regular file/, 'EINVAL');
    // 17 MiB: over the cap, said before reading.
    assert.equal((await stat(c1, '/big')).size, 17 * 1024 * 1024);
    await bad(
      read(c1, '/big'),
      ErrorCode.InvalidArgument,
      /read file "\/big" in container fs-one: the file is 17\.0 MiB; Browse Files opens files up to 16\.0 MiB/,
      'EFBIG',
    );
    // Targets.
    await bad(read({ container: 'nope' }, '/hello'), ErrorCode.NotFound, /no such container: nope/);
    await bad(read({ image: 'nope:1' }, '/hello'), ErrorCode.NotFound, /no such image/);
    const both = { container: 'c1', image: ref } as unknown as FsTarget;
    await bad(read(both, '/hello'), ErrorCode.InvalidArgument, /exactly one of "container" and "image"/);
    await bad(conn.sendRequest(FsReadFileRequest.type, { path: '/hello' } as never), ErrorCode.InvalidArgument, /"target" must be/);
    await bad(
      conn.sendRequest(FsReadFileRequest.type, { target: c1, path: 42 } as never),
      ErrorCode.InvalidArgument,
      /"path" must be a string/,
    );
  });

  it("follows a running container's changes live", async () => {
    await cli(['run', '-d', '--name', 'fs-two', ref, 'sleep', '600']);
    const c2: FsTarget = { container: 'fs-two' };
    await expectAgentError(read(c2, '/live'), ErrorCode.NotFound);
    await cli(['exec', 'fs-two', 'sh', '-c', 'echo live > /live && rm /etc/passwd']);
    assert.equal(await text(c2, '/live'), 'live\n');
    await expectAgentError(read(c2, '/etc/passwd'), ErrorCode.NotFound);
    assert.ok(!(await names(c2, '/etc')).includes('passwd'));
    await cli(['rm', '-f', 'fs-two']);
    await expectAgentError(read(c2, '/live'), ErrorCode.NotFound, /no such container: fs-two/);
  });
});
