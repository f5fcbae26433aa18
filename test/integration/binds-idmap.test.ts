/**
 * Idmapped binds (`-v /host:/ctr:idmap[=UID:GID]`): the container's user is mapped to the owner
 * of the host folder through MOUNT_ATTR_IDMAP, so files it creates belong to that owner on the
 * host and nothing on the host is chowned. Real containers through the CLI.
 */
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InspectContainerRequest } from '../../protocol';
import { ok } from '../support/expect';
import { containerSuite } from '../support/suite';
import { makeTempDir } from '../support/tmp';

describe('idmapped binds', () => {
  const s = containerSuite({ repo: 'idmap/box' });
  const { cli } = s;

  async function ownedFolder(): Promise<string> {
    const dir = join(await makeTempDir('berth-idmap-'), 'work');
    mkdirSync(dir);
    writeFileSync(join(dir, 'existing'), 'e');
    chownSync(dir, 1234, 4321);
    chownSync(join(dir, 'existing'), 1234, 4321);
    return dir;
  }

  it("maps the container's root to the folder's owner: its files show as root inside and belong to the owner outside", async () => {
    const dir = await ownedFolder();
    const r = ok(
      await cli([
        'run',
        '--rm',
        '-v',
        `${dir}:/w:idmap`,
        s.ref,
        'sh',
        '-c',
        'stat -c %u:%g /w /w/existing; echo x > /w/made; mkdir /w/sub; stat -c %u:%g /w/made',
      ]),
      'run',
    );
    assert.equal(r.stdout, '0:0\n0:0\n0:0\n');
    assert.deepEqual([statSync(join(dir, 'made')).uid, statSync(join(dir, 'made')).gid], [1234, 4321]);
    assert.equal(statSync(join(dir, 'sub')).uid, 1234);
    assert.equal(statSync(dir).uid, 1234, 'the folder itself is untouched');
  });

  it('maps a given container user (idmap=UID:GID with -u); ids outside the map cannot create files there', async () => {
    const dir = await ownedFolder();
    const r = ok(
      await cli([
        'run',
        '--rm',
        '-u',
        '1000:1000',
        '-v',
        `${dir}:/w:rw,idmap=1000:1000`,
        s.ref,
        'sh',
        '-c',
        'id -u; stat -c %u:%g /w/existing; touch /w/by-user',
      ]),
      'run as 1000',
    );
    assert.equal(r.stdout, '1000\n1000:1000\n');
    assert.equal(statSync(join(dir, 'by-user')).uid, 1234);
    const root = await cli([
      'run',
      '--rm',
      '-v',
      `${dir}:/w:idmap=1000:1000`,
      s.ref,
      'sh',
      '-c',
      'stat -c %u /w/existing; touch /w/by-root',
    ]);
    assert.notEqual(root.code, 0, 'root is not in the map');
    assert.match(root.stdout, /^1000\n/);
    assert.match(root.stderr, /Value too large|Invalid argument|Operation not permitted/);
  });

  it('--userns auto: root inside is host uid 100000, the image still belongs to it, exec joins the namespace', async () => {
    const id = ok(
      await cli(['run', '-d', '--userns', 'auto', s.ref, 'sh', '-c', 'echo made > /etc/new; exec sleep 600']),
      'run -d',
    ).stdout.trim();
    const r = ok(
      await cli([
        'exec',
        id,
        'sh',
        '-c',
        'cat /proc/self/uid_map; id -u; stat -c %u:%g /etc/passwd /bin/busybox; echo x >> /etc/passwd && echo appended',
      ]),
      'exec',
    );
    assert.match(r.stdout, /^\s+0\s+100000\s+65536\n0\n0:0\n0:0\nappended\n$/);
    const info = await s.conn.sendRequest(InspectContainerRequest.type, { container: id });
    assert.equal(info.HostConfig.UsernsMode, 'auto');
    // On the host, what it wrote belongs to the mapped root; the image's layers are untouched.
    const upper = info.GraphDriver.Data.UpperDir;
    assert.equal(statSync(join(upper, 'etc', 'new')).uid, 100000);
    assert.equal(statSync(join(upper, 'etc', 'passwd')).uid, 100000);
    const lowest = info.GraphDriver.Data.LowerDir.split(':').at(-1)!;
    assert.equal(statSync(join(lowest, 'bin', 'busybox')).uid, 0);
    ok(await cli(['rm', '-f', id]), 'rm');
    const bad = await cli(['run', '--rm', '--userns', 'keep-id', s.ref, 'true']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid value "keep-id" for --userns: want host or auto/);
  });

  it('read-only idmapped binds stay read-only, and bad options are clear errors', async () => {
    const dir = await ownedFolder();
    const r = await cli(['run', '--rm', '-v', `${dir}:/w:ro,idmap`, s.ref, 'touch', '/w/x']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Read-only file system/);
    const bad = await cli(['run', '--rm', '-v', `${dir}:/w:idmap=a:b`, s.ref, 'true']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown option "idmap=a:b"/);
  });
});
