/**
 * `container/diff`'s classification, on fabricated upper dirs (real whiteout devices and opaque
 * xattrs: the test runs as root) against fabricated lower layer indexes.
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { constants } from 'node:fs';
import { native } from '../../native';
import type { LayerIndexEntry } from '../../agent/oci/layerIndex';
import { upperChanges, walkUpper } from '../../agent/runtime/containers/diff';
import { makeTempDirSync, runCleanups } from '../support/tmp';

const e = (path: string, type: LayerIndexEntry['type'] = 'file'): LayerIndexEntry => ({
  path,
  type,
  size: 0,
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
});
const whiteout = (p: string) => native().mknod(p, constants.S_IFCHR | 0o000, 0, 0);
const opaque = (p: string) => native().lsetxattr(p, 'trusted.overlay.opaque', Buffer.from('y'));
const show = (changes: { Path: string; Kind: number }[]) => changes.map((c) => `${'CAD'[c.Kind]} ${c.Path}`);

describe('container diff', () => {
  after(runCleanups);
  // The image: two layers. The top one deletes /opt/gone and replaces /var/cache wholesale.
  const bottom = [
    e('bin', 'dir'),
    e('bin/sh'),
    e('etc', 'dir'),
    e('etc/passwd'),
    e('etc/group'),
    e('srv', 'dir'),
    e('srv/x', 'dir'),
    e('srv/x/a'),
    e('srv/x/b', 'dir'),
    e('srv/x/b/c'),
    e('opt', 'dir'),
    e('opt/gone'),
    e('var', 'dir'),
    e('var/cache', 'dir'),
    e('var/cache/old'),
  ];
  const top = [
    e('opt', 'dir'),
    e('opt/gone', 'whiteout'),
    e('var', 'dir'),
    e('var/cache', 'dir'),
    e('var/cache', 'opaque'),
    e('var/cache/new'),
  ];
  const lowers = [top, bottom];

  it('reports added, changed and deleted paths with their parents as changed, sorted', () => {
    const upper = makeTempDirSync('berth-upper-');
    mkdirSync(join(upper, 'etc'));
    writeFileSync(join(upper, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n'); // changed
    writeFileSync(join(upper, 'etc/new.conf'), 'x'); // added
    whiteout(join(upper, 'etc/group')); // deleted
    mkdirSync(join(upper, 'home/u'), { recursive: true }); // added, with its new parent
    symlinkSync('/etc/passwd', join(upper, 'home/u/link'));
    mkdirSync(join(upper, 'opt'));
    writeFileSync(join(upper, 'opt/gone'), 'back'); // deleted in the image, added by the container
    mkdirSync(join(upper, 'var/cache'), { recursive: true });
    whiteout(join(upper, 'var/cache/old')); // hidden by the image's opaque dir already: still a whiteout
    whiteout(join(upper, 'var/cache/new'));
    assert.deepEqual(show(upperChanges(upper, lowers)), [
      'C /etc',
      'D /etc/group',
      'A /etc/new.conf',
      'C /etc/passwd',
      'A /home',
      'A /home/u',
      'A /home/u/link',
      'C /opt',
      'A /opt/gone',
      'C /var',
      'C /var/cache',
      'D /var/cache/new',
      'D /var/cache/old',
    ]);
  });

  it('an opaque dir: the dir is changed, what the image had directly in it and is not back is deleted', () => {
    const upper = makeTempDirSync('berth-upper-');
    mkdirSync(join(upper, 'srv/x'), { recursive: true });
    opaque(join(upper, 'srv/x'));
    writeFileSync(join(upper, 'srv/x/new'), '');
    writeFileSync(join(upper, 'srv/x/a'), 'again'); // the image had it: changed
    const walked = walkUpper(upper);
    assert.deepEqual(
      walked.map((w) => `${w.path}:${w.kind}`),
      ['srv:dir', 'srv/x:opaque-dir', 'srv/x/a:file', 'srv/x/new:file'],
    );
    assert.deepEqual(show(upperChanges(upper, lowers)), ['C /srv', 'C /srv/x', 'C /srv/x/a', 'D /srv/x/b', 'A /srv/x/new']);
  });

  it('an opaque dir the image did not have is added; an empty upper dir has no changes', () => {
    const upper = makeTempDirSync('berth-upper-');
    mkdirSync(join(upper, 'data'));
    opaque(join(upper, 'data'));
    writeFileSync(join(upper, 'data/f'), '');
    assert.deepEqual(show(upperChanges(upper, lowers)), ['A /data', 'A /data/f']);
    assert.deepEqual(upperChanges(makeTempDirSync('berth-upper-'), lowers), []);
  });

  it('a char device that is not 0/0 is a file, not a whiteout', () => {
    const upper = makeTempDirSync('berth-upper-');
    mkdirSync(join(upper, 'etc'));
    native().mknod(join(upper, 'etc/passwd'), constants.S_IFCHR | 0o600, 1, 3);
    assert.deepEqual(show(upperChanges(upper, lowers)), ['C /etc', 'C /etc/passwd']);
  });
});
