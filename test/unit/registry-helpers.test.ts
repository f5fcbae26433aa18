import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../agent/errors';
import { MediaType, type ImageIndex } from '../../agent/oci';
import { parseTokenAnswer, parseWwwAuthenticate, tokenUrl } from '../../agent/registry/auth';
import { credentialsFor, loadDockerAuthConfig, normalizeAuthKey } from '../../agent/registry/dockerConfig';
import { isLoopbackHost, usePlainHttp } from '../../agent/registry/http';
import { hostPlatform, parsePlatform, platformString, selectManifest } from '../../agent/oci/platform';
import type { BerthError } from '../../agent/errors';

describe('parseWwwAuthenticate', () => {
  it('parses a Docker Hub bearer challenge', () => {
    const c = parseWwwAuthenticate(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    );
    assert.deepEqual(c, [
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
      },
    ]);
  });

  it('is case-insensitive, tolerates spaces, tokens and escapes', () => {
    const c = parseWwwAuthenticate('BEARER  Realm = "https://a/t" , SERVICE=svc ,scope="a\\"b,c\\\\d"');
    assert.equal(c.length, 1);
    assert.equal(c[0].scheme, 'bearer');
    assert.deepEqual(c[0].params, { realm: 'https://a/t', service: 'svc', scope: 'a"b,c\\d' });
  });

  it('splits several challenges in one header and across headers', () => {
    const c = parseWwwAuthenticate([
      'Basic realm="Registry Realm", Bearer realm="https://t/x",service="s"',
      'Negotiate abc==, Digest realm="d", qop="auth"',
    ]);
    assert.deepEqual(
      c.map((x) => x.scheme),
      ['basic', 'bearer', 'negotiate', 'digest'],
    );
    assert.equal(c[0].params.realm, 'Registry Realm');
    assert.deepEqual(c[1].params, { realm: 'https://t/x', service: 's' });
    assert.equal(c[2].token68, 'abc==');
    assert.deepEqual(c[3].params, { realm: 'd', qop: 'auth' });
  });

  it('handles bare schemes, garbage and unterminated quotes without throwing', () => {
    assert.deepEqual(parseWwwAuthenticate('Basic'), [{ scheme: 'basic', params: {} }]);
    assert.deepEqual(parseWwwAuthenticate(''), []);
    assert.deepEqual(parseWwwAuthenticate(undefined), []);
    assert.deepEqual(parseWwwAuthenticate(',,, ,'), []);
    const c = parseWwwAuthenticate('Bearer realm="https://x/unterminated');
    assert.equal(c[0].params.realm, 'https://x/unterminated');
    assert.doesNotThrow(() => parseWwwAuthenticate('"""===;;;@@@ Bearer realm=x'));
    assert.doesNotThrow(() => parseWwwAuthenticate('a='.repeat(10000)));
  });

  it('builds the token URL keeping the realm query', () => {
    const u = tokenUrl({ scheme: 'bearer', params: { realm: 'https://auth.example/token?x=1', service: 'reg' } }, 'repository:a/b:pull');
    assert.equal(u.origin, 'https://auth.example');
    assert.equal(u.searchParams.get('x'), '1');
    assert.equal(u.searchParams.get('service'), 'reg');
    assert.equal(u.searchParams.get('scope'), 'repository:a/b:pull');
    assert.throws(() => tokenUrl({ scheme: 'bearer', params: { realm: 'file:///etc/passwd' } }, 's'));
    assert.throws(() => tokenUrl({ scheme: 'bearer', params: {} }, 's'));
  });

  it('reads token answers', () => {
    assert.deepEqual(parseTokenAnswer(Buffer.from('{"token":"t","expires_in":300}')), { token: 't', expiresIn: 300 });
    assert.deepEqual(parseTokenAnswer(Buffer.from('{"access_token":"a"}')), { token: 'a', expiresIn: 60 });
    assert.deepEqual(parseTokenAnswer(Buffer.from('{"token":"t","expires_in":-5}')), { token: 't', expiresIn: 60 });
    assert.equal(parseTokenAnswer(Buffer.from('{"token":""}')), undefined);
    assert.equal(parseTokenAnswer(Buffer.from('{"token":"a\\r\\nX-Evil: 1"}')), undefined);
    assert.equal(parseTokenAnswer(Buffer.from('nope')), undefined);
  });
});

describe('docker config.json', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const withConfig = (text: string) => {
    const d = mkdtempSync(join(tmpdir(), 'berth-dockercfg-'));
    dirs.push(d);
    writeFileSync(join(d, 'config.json'), text);
    return d;
  };

  it('normalises keys', () => {
    assert.equal(normalizeAuthKey('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normalizeAuthKey('registry-1.docker.io'), 'docker.io');
    assert.equal(normalizeAuthKey('http://Reg.Example:5000/v2/'), 'reg.example:5000');
    assert.equal(normalizeAuthKey('ghcr.io'), 'ghcr.io');
  });

  it('reads auth and username/password entries', () => {
    const d = withConfig(
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:pa:ss').toString('base64') },
          'reg.example:5000': { username: 'u', password: 'p' },
          'https://other.example/v1/': { auth: Buffer.from('o:q').toString('base64') },
          'empty.example': {},
        },
      }),
    );
    const cfg = loadDockerAuthConfig(d);
    assert.equal(cfg.problem, undefined);
    assert.deepEqual(credentialsFor(cfg, 'docker.io'), { username: 'hub', password: 'pa:ss' });
    assert.deepEqual(credentialsFor(cfg, 'reg.example:5000'), { username: 'u', password: 'p' });
    assert.equal(credentialsFor(cfg, 'reg.example'), undefined, 'host:port keys only match that port');
    assert.deepEqual(credentialsFor(cfg, 'other.example'), { username: 'o', password: 'q' });
    assert.equal(credentialsFor(cfg, 'empty.example'), undefined);
  });

  it('never throws on missing or broken files, and reports problems', () => {
    const missing = loadDockerAuthConfig(join(tmpdir(), 'berth-no-such-dir-' + process.pid));
    assert.equal(missing.auths.size, 0);
    assert.equal(missing.problem, undefined);
    assert.match(loadDockerAuthConfig(withConfig('{oops')).problem ?? '', /not valid JSON/);
    assert.match(loadDockerAuthConfig(withConfig('{"credsStore":"desktop"}')).problem ?? '', /credential helpers/);
  });

  it('defaults to $DOCKER_CONFIG', () => {
    const d = withConfig(JSON.stringify({ auths: { 'x.example': { username: 'a', password: 'b' } } }));
    const old = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = d;
    try {
      assert.deepEqual(credentialsFor(loadDockerAuthConfig(), 'x.example'), { username: 'a', password: 'b' });
    } finally {
      if (old === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = old;
    }
  });
});

describe('HTTP vs HTTPS', () => {
  it('always uses HTTP for loopback hosts', () => {
    for (const h of [
      'localhost',
      'localhost:5000',
      '127.0.0.1',
      '127.0.0.1:5000',
      '127.1.2.3:80',
      '[::1]:5000',
      '[::1]',
      'foo.localhost',
    ]) {
      assert.equal(isLoopbackHost(h), true, h);
      assert.equal(usePlainHttp(h), true, h);
    }
  });

  it('uses HTTPS for everything else unless listed insecure', () => {
    for (const h of [
      'docker.io',
      'registry-1.docker.io',
      'ghcr.io',
      '10.0.0.1:5000',
      '128.0.0.1',
      '[::2]:5000',
      'localhost.example.com',
      '127.example.com',
    ]) {
      assert.equal(usePlainHttp(h), false, h);
    }
    const insecure = ['reg.lan', '10.0.0.1:5000', 'http://other.lan:8080/'];
    assert.equal(usePlainHttp('reg.lan', insecure), true);
    assert.equal(usePlainHttp('reg.lan:5000', insecure), true, 'a host entry covers any port');
    assert.equal(usePlainHttp('REG.LAN:5000', insecure), true, 'case-insensitive');
    assert.equal(usePlainHttp('10.0.0.1:5000', insecure), true);
    assert.equal(usePlainHttp('10.0.0.1:5001', insecure), false, 'a host:port entry covers only that port');
    assert.equal(usePlainHttp('10.0.0.1', insecure), false);
    assert.equal(usePlainHttp('other.lan:8080', insecure), true);
    assert.equal(usePlainHttp('sub.reg.lan', insecure), false);
  });
});

describe('platforms', () => {
  it('maps the host platform', () => {
    const p = hostPlatform();
    assert.equal(p.os, 'linux');
    const expected: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
    if (expected[process.arch]) assert.equal(p.architecture, expected[process.arch]);
    if (process.arch === 'arm64') assert.equal(p.variant, 'v8');
    if (process.arch === 'x64') assert.equal(p.variant, undefined);
  });

  it('parses and prints platform strings', () => {
    assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('Linux/X86_64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('aarch64'), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(parsePlatform('linux/armhf'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.equal(platformString({ os: 'linux', architecture: 'arm', variant: 'v6' }), 'linux/arm/v6');
    assert.equal(platformString({ os: 'linux', architecture: 'amd64' }), 'linux/amd64');
    for (const bad of ['', 'linux/', 'a/b/c/d', 'linux/amd 64', '//']) {
      assert.throws(
        () => parsePlatform(bad),
        (e: BerthError) => e.code === ErrorCode.InvalidArgument && e.data.platform === bad,
      );
    }
  });

  const D = (n: number) => 'sha256:' + n.toString(16).padStart(64, '0');
  const entry = (n: number, architecture: string, variant?: string, extra: Record<string, unknown> = {}) => ({
    mediaType: MediaType.OciManifest,
    digest: D(n),
    size: 1,
    platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
    ...extra,
  });
  const index = (...manifests: unknown[]): ImageIndex => ({
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: manifests as ImageIndex['manifests'],
  });
  const pick = (idx: ImageIndex, p: string) => selectManifest(idx, parsePlatform(p))?.digest;

  it('skips attestations and unknown/unknown', () => {
    const att = { annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': D(2) } };
    const idx = index(
      { mediaType: MediaType.OciManifest, digest: D(1), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
      entry(9, 'amd64', undefined, att),
      entry(2, 'amd64'),
    );
    assert.equal(pick(idx, 'linux/amd64'), D(2));
    assert.equal(pick(index(entry(9, 'amd64', undefined, att)), 'linux/amd64'), undefined);
  });

  it('matches os and architecture', () => {
    const idx = index(entry(1, 'amd64'), entry(2, 'arm64', 'v8'), {
      ...entry(3, 'amd64'),
      platform: { os: 'windows', architecture: 'amd64' },
    });
    assert.equal(pick(idx, 'linux/amd64'), D(1));
    assert.equal(pick(idx, 'windows/amd64'), D(3));
    assert.equal(pick(idx, 'linux/s390x'), undefined);
    assert.equal(
      pick(index({ mediaType: MediaType.OciManifest, digest: D(1), size: 1 }), 'linux/amd64'),
      undefined,
      'entries without platform are not picked',
    );
  });

  it('arm64 treats "" and "v8" alike', () => {
    assert.equal(pick(index(entry(1, 'arm64')), 'linux/arm64/v8'), D(1));
    assert.equal(pick(index(entry(1, 'arm64', 'v8')), 'linux/arm64'), D(1));
    assert.equal(pick(index(entry(1, 'arm64', 'v9'), entry(2, 'arm64', 'v8')), 'linux/arm64/v8'), D(2));
  });

  it('arm variants: exact preferred, lower versions as fallback, never higher', () => {
    const idx = index(entry(5, 'arm', 'v5'), entry(6, 'arm', 'v6'), entry(7, 'arm', 'v7'));
    assert.equal(pick(idx, 'linux/arm/v7'), D(7));
    assert.equal(pick(idx, 'linux/arm/v6'), D(6));
    assert.equal(pick(index(entry(5, 'arm', 'v5'), entry(6, 'arm', 'v6')), 'linux/arm/v7'), D(6));
    assert.equal(pick(index(entry(7, 'arm', 'v7')), 'linux/arm/v6'), undefined);
  });

  it('amd64 without variant serves any amd64; unset variant prefers none, else first', () => {
    assert.equal(pick(index(entry(1, 'amd64')), 'linux/amd64/v3'), D(1));
    assert.equal(pick(index(entry(1, 'amd64'), entry(3, 'amd64', 'v3')), 'linux/amd64/v3'), D(3));
    assert.equal(pick(index(entry(3, 'amd64', 'v3'), entry(1, 'amd64')), 'linux/amd64'), D(1));
    assert.equal(pick(index(entry(6, 'arm', 'v6'), entry(7, 'arm', 'v7')), 'linux/arm'), D(6));
  });
});
