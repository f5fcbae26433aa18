import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../agent/errors';
import { familiarName, formatReference, parseReference, registryApiHost, withDefaultTag } from '../../agent/oci/reference';
import type { BerthError } from '../../agent/errors';

const D = 'sha256:' + 'a'.repeat(64);
const D512 = 'sha512:' + 'b'.repeat(128);

function bad(input: string, pattern?: RegExp) {
  assert.throws(
    () => parseReference(input),
    (e: BerthError) => {
      assert.equal(e.code, ErrorCode.InvalidReference);
      assert.equal(e.data.operation, 'parse reference');
      assert.equal(e.data.reference, input);
      if (pattern) assert.match(e.message, pattern);
      return true;
    },
  );
}

describe('parseReference', () => {
  it('normalises Docker Hub names', () => {
    assert.deepEqual(parseReference('busybox'), { registry: 'docker.io', repository: 'library/busybox' });
    assert.deepEqual(parseReference('busybox:1.36'), { registry: 'docker.io', repository: 'library/busybox', tag: '1.36' });
    assert.deepEqual(parseReference('user/app:1'), { registry: 'docker.io', repository: 'user/app', tag: '1' });
    assert.deepEqual(parseReference('docker.io/busybox'), { registry: 'docker.io', repository: 'library/busybox' });
    assert.deepEqual(parseReference('index.docker.io/library/alpine:3'), { registry: 'docker.io', repository: 'library/alpine', tag: '3' });
    assert.deepEqual(parseReference('index.docker.io/alpine'), { registry: 'docker.io', repository: 'library/alpine' });
  });

  it('recognises registries by dot, colon or localhost', () => {
    assert.deepEqual(parseReference('ghcr.io/org/img:v1'), { registry: 'ghcr.io', repository: 'org/img', tag: 'v1' });
    assert.deepEqual(parseReference('localhost/app'), { registry: 'localhost', repository: 'app' });
    assert.deepEqual(parseReference('localhost:5000/app'), { registry: 'localhost:5000', repository: 'app' });
    assert.deepEqual(parseReference('127.0.0.1:5000/team/app:v1'), { registry: '127.0.0.1:5000', repository: 'team/app', tag: 'v1' });
    assert.deepEqual(parseReference('[::1]:5000/x:y'), { registry: '[::1]:5000', repository: 'x', tag: 'y' });
    assert.deepEqual(parseReference('[fe80::1]/x'), { registry: '[fe80::1]', repository: 'x' });
    assert.deepEqual(parseReference('myhost:5000/a/b/c'), { registry: 'myhost:5000', repository: 'a/b/c' });
    // no dot, colon or localhost: a Docker Hub user
    assert.deepEqual(parseReference('myhost/app'), { registry: 'docker.io', repository: 'myhost/app' });
    // no registry component: "localhost:5000" alone is repository "localhost" with tag "5000"
    assert.deepEqual(parseReference('localhost:5000'), { registry: 'docker.io', repository: 'library/localhost', tag: '5000' });
    // a non-Docker-Hub single component keeps no library/ prefix
    assert.deepEqual(parseReference('quay.io/app'), { registry: 'quay.io', repository: 'app' });
  });

  it('accepts digests, and tag plus digest', () => {
    assert.deepEqual(parseReference(`alpine@${D}`), { registry: 'docker.io', repository: 'library/alpine', digest: D });
    assert.deepEqual(parseReference(`alpine:3@${D}`), { registry: 'docker.io', repository: 'library/alpine', tag: '3', digest: D });
    assert.deepEqual(parseReference(`h:1/x@${D512}`), { registry: 'h:1', repository: 'x', digest: D512 });
  });

  it('accepts the separators Docker allows', () => {
    for (const name of ['a.b', 'a_b', 'a__b', 'a-b', 'a---b', 'a1/b2.c_d__e-f', 'x0']) {
      assert.equal(parseReference(`r.io/${name}`).repository, name);
    }
    assert.equal(parseReference('x:' + 'T'.repeat(128)).tag, 'T'.repeat(128));
    assert.equal(parseReference('x:_v1.2-RC').tag, '_v1.2-RC');
  });

  it('refuses bad input with InvalidReference', () => {
    bad('', /empty/);
    bad('Busybox', /must be lowercase/);
    bad('docker.io/Library/busybox', /must be lowercase/);
    bad('user/App:1', /must be lowercase/);
    bad('busybox:', /not a valid tag/);
    bad('busybox:-x', /not a valid tag/);
    bad('busybox:.x', /not a valid tag/);
    bad('x:' + 'a'.repeat(129), /not a valid tag/);
    bad('busybox:a+b', /not a valid tag/);
    bad('busybox@sha256:abc', /not a valid digest/);
    bad('busybox@sha256:' + 'A'.repeat(64), /not a valid digest/);
    bad('busybox@md5:' + 'a'.repeat(32), /not a valid digest/);
    bad('busybox@sha512:' + 'a'.repeat(64), /not a valid digest/);
    bad('busybox@', /not a valid digest/);
    bad('a//b', /empty path component/);
    bad('a/', /empty path component/);
    bad('/a', /empty path component/);
    bad('r.io/', /empty path component/);
    bad('a_/b', /not a valid repository name component/);
    bad('a/-b', /not a valid repository name component/);
    bad('a/b.', /not a valid repository name component/);
    bad('a/b___c', /not a valid repository name component/);
    bad('bad_host.com:xx:1/a');
    bad('-bad.com/a', /not a valid registry host/);
    bad('busy box', /whitespace/);
    bad(':tag', /missing/);
    bad('r.io/' + 'a'.repeat(251), /at most 255/);
    bad('a'.repeat(240), /at most 255/); // docker.io/library/ counts
  });

  it('allows a name of exactly 255 characters', () => {
    const repo = 'a'.repeat(255 - 'r.io/'.length);
    assert.equal(parseReference('r.io/' + repo).repository, repo);
  });
});

describe('formatting', () => {
  it('formatReference gives the fully qualified form', () => {
    assert.equal(formatReference(withDefaultTag(parseReference('busybox'))), 'docker.io/library/busybox:latest');
    assert.equal(formatReference(parseReference(`host:5000/a/b@${D}`)), `host:5000/a/b@${D}`);
    assert.equal(formatReference(parseReference(`x.io/y:tag@${D}`)), `x.io/y:tag@${D}`);
  });

  it('familiarName gives what docker shows', () => {
    assert.equal(familiarName(withDefaultTag(parseReference('busybox'))), 'busybox:latest');
    assert.equal(familiarName(parseReference('docker.io/library/busybox:1')), 'busybox:1');
    assert.equal(familiarName(parseReference('user/app:1')), 'user/app:1');
    assert.equal(familiarName(parseReference('127.0.0.1:5000/x:y')), '127.0.0.1:5000/x:y');
    assert.equal(familiarName(parseReference(`alpine@${D}`)), `alpine@${D}`);
    assert.equal(familiarName(parseReference('library/a/b')), 'library/a/b');
  });

  it('withDefaultTag adds latest only when neither tag nor digest', () => {
    const r = parseReference('busybox');
    assert.equal(withDefaultTag(r).tag, 'latest');
    assert.equal(r.tag, undefined, 'input not mutated');
    assert.equal(withDefaultTag(parseReference('busybox:1')).tag, '1');
    const d = withDefaultTag(parseReference(`busybox@${D}`));
    assert.equal(d.tag, undefined);
    assert.equal(d.digest, D);
  });

  it('registryApiHost maps docker.io only', () => {
    assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryApiHost('ghcr.io'), 'ghcr.io');
    assert.equal(registryApiHost('127.0.0.1:5000'), '127.0.0.1:5000');
  });

  it('round-trips formatted references', () => {
    for (const s of ['busybox', 'user/app:1', `h:1/x@${D}`, '[::1]:5000/a/b:c', `a.b/c:d@${D512}`]) {
      const r = parseReference(s);
      assert.deepEqual(parseReference(formatReference(r)), r);
      assert.deepEqual(parseReference(familiarName(r)), r);
    }
  });
});
