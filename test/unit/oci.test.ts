import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { ErrorCode } from '../../agent/errors';
import {
  MANIFEST_ACCEPT,
  MediaType,
  checkConfigMatchesManifest,
  digestOf,
  isDigest,
  layerCompression,
  matchesDigest,
  parseConfig,
  parseDigest,
  parseIndex,
  parseManifest,
  parseManifestDocument,
  sha256Hex,
} from '../../agent/oci';
import type { BerthError } from '../../agent/errors';

const D1 = 'sha256:' + '1'.repeat(64);
const D2 = 'sha256:' + '2'.repeat(64);
const D3 = 'sha256:' + '3'.repeat(64);
const j = (v: unknown) => Buffer.from(JSON.stringify(v));

function manifest(over: Record<string, unknown> = {}) {
  return {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: D1, size: 100 },
    layers: [
      { mediaType: MediaType.OciLayerGzip, digest: D2, size: 1000 },
      { mediaType: MediaType.OciLayerZstd, digest: D3, size: 0 },
    ],
    ...over,
  };
}

function config(over: Record<string, unknown> = {}) {
  return {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/bin'], Cmd: ['sh'], Entrypoint: null, Labels: { a: 'b' }, ExposedPorts: { '80/tcp': {} }, WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [D2, D3] },
    history: [{ created_by: 'ADD x' }, { created_by: 'CMD sh', empty_layer: true }, { created_by: 'RUN y' }],
    ...over,
  };
}

function throwsCode(fn: () => unknown, code: ErrorCode, pattern?: RegExp) {
  assert.throws(fn, (e: BerthError) => {
    assert.equal(e.name, 'BerthError');
    assert.equal(e.code, code, `code ${e.code} (${e.message})`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

describe('digests', () => {
  it('parses only sha256/sha512 with exact hex length', () => {
    assert.deepEqual(parseDigest(D1), { algorithm: 'sha256', hex: '1'.repeat(64) });
    assert.deepEqual(parseDigest('sha512:' + 'f'.repeat(128)), { algorithm: 'sha512', hex: 'f'.repeat(128) });
    for (const bad of [
      'sha256:' + '1'.repeat(63),
      'sha256:' + '1'.repeat(65),
      'sha256:' + 'G'.repeat(64),
      'sha256:' + 'A'.repeat(64),
      'md5:' + 'a'.repeat(32),
      'sha512:' + 'a'.repeat(64),
      '',
      'sha256',
      D1 + '\n',
    ]) {
      throwsCode(() => parseDigest(bad), ErrorCode.InvalidContent, /not a valid digest/);
      assert.equal(isDigest(bad), false);
    }
  });

  it('hashes buffers', () => {
    const b = Buffer.from('hello');
    assert.equal(sha256Hex(b), createHash('sha256').update(b).digest('hex'));
    assert.equal(digestOf(b), 'sha256:' + sha256Hex(b));
    assert.match(digestOf(b, 'sha512'), /^sha512:[a-f0-9]{128}$/);
    assert.equal(matchesDigest(b, digestOf(b)), true);
    assert.equal(matchesDigest(b, digestOf(b, 'sha512')), true);
    assert.equal(matchesDigest(b, D1), false);
    assert.equal(matchesDigest(b, 'junk'), false);
  });
});

describe('parseManifest', () => {
  it('parses an OCI manifest and drops unknown fields', () => {
    const m = parseManifest(j({ ...manifest(), extra: 1, annotations: { k: 'v' } }));
    assert.equal(m.mediaType, MediaType.OciManifest);
    assert.equal(m.layers.length, 2);
    assert.deepEqual(m.annotations, { k: 'v' });
    assert.equal((m as unknown as Record<string, unknown>).extra, undefined);
  });

  it('parses a Docker schema 2 manifest', () => {
    const m = parseManifest(
      j({
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: { mediaType: MediaType.DockerConfig, digest: D1, size: 5 },
        layers: [{ mediaType: MediaType.DockerLayerGzip, digest: D2, size: 7 }],
      }),
    );
    assert.equal(m.mediaType, MediaType.DockerManifest);
    assert.equal(layerCompression(m.layers[0].mediaType), 'gzip');
    assert.equal(layerCompression(MediaType.OciLayerZstd), 'zstd');
    assert.equal(layerCompression(MediaType.OciLayer), 'none');
  });

  it('uses the hint or the shape when the body has no mediaType', () => {
    const { mediaType: _omit, ...noType } = manifest();
    assert.equal(parseManifest(j(noType)).mediaType, MediaType.OciManifest);
    assert.equal(parseManifest(j(noType), `${MediaType.DockerManifest}; charset=utf-8`).mediaType, MediaType.DockerManifest);
    const doc = parseManifestDocument(j({ schemaVersion: 2, manifests: [] }), 'text/plain');
    assert.equal(doc.kind, 'index');
  });

  it('refuses schema 1', () => {
    const msg = /Docker schema 1 manifests are not supported; the image must be re-pushed with a current client/;
    throwsCode(() => parseManifest(j({ schemaVersion: 1, name: 'x', fsLayers: [] })), ErrorCode.UnsupportedManifest, msg);
    throwsCode(() => parseManifest(j({ schemaVersion: 1 }), MediaType.DockerSchema1SignedManifest), ErrorCode.UnsupportedManifest, msg);
    throwsCode(() => parseManifest(j({ signatures: [] }), MediaType.DockerSchema1Manifest), ErrorCode.UnsupportedManifest, msg);
    throwsCode(() => parseManifest(j({ ...manifest(), mediaType: MediaType.DockerSchema1Manifest })), ErrorCode.UnsupportedManifest, msg);
  });

  it('refuses foreign and unknown layers', () => {
    const foreign = manifest({ layers: [{ mediaType: MediaType.DockerForeignLayerGzip, digest: D2, size: 1, urls: ['https://x'] }] });
    throwsCode(() => parseManifest(j(foreign)), ErrorCode.UnsupportedManifest, /foreign \(non-distributable\) layer/);
    const nd = manifest({ layers: [{ mediaType: MediaType.OciLayerNondistributableGzip, digest: D2, size: 1 }] });
    throwsCode(() => parseManifest(j(nd)), ErrorCode.UnsupportedManifest, /non-distributable/);
    const odd = manifest({ layers: [{ mediaType: 'application/x-whatever', digest: D2, size: 1 }] });
    throwsCode(() => parseManifest(j(odd)), ErrorCode.UnsupportedManifest, /unsupported media type/);
  });

  it('refuses artifacts and unknown manifest types', () => {
    const art = manifest({ config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: D1, size: 1 } });
    throwsCode(() => parseManifest(j(art)), ErrorCode.UnsupportedManifest, /artifact/);
    throwsCode(
      () => parseManifest(j(manifest({ mediaType: 'application/x-foo' }))),
      ErrorCode.UnsupportedManifest,
      /not a container image manifest/,
    );
    throwsCode(
      () => parseManifest(j({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] })),
      ErrorCode.UnsupportedManifest,
      /got an image index/,
    );
  });

  it('checks field types strictly', () => {
    const cases: Array<[unknown, RegExp]> = [
      [manifest({ schemaVersion: 3 }), /schemaVersion/],
      [manifest({ schemaVersion: '2' }), /schemaVersion/],
      [manifest({ config: { mediaType: MediaType.OciConfig, digest: 'sha256:xyz', size: 1 } }), /invalid digest/],
      [manifest({ config: { mediaType: MediaType.OciConfig, digest: D1, size: -1 } }), /invalid size/],
      [manifest({ config: { mediaType: MediaType.OciConfig, digest: D1, size: 1.5 } }), /invalid size/],
      [manifest({ config: { mediaType: MediaType.OciConfig, digest: D1, size: 2 ** 53 } }), /invalid size/],
      [manifest({ config: { mediaType: MediaType.OciConfig, digest: D1, size: '1' } }), /invalid size/],
      [manifest({ config: { digest: D1, size: 1 } }), /mediaType/],
      [manifest({ layers: 'x' }), /layers/],
      [manifest({ layers: [null] }), /not a JSON object/],
      [manifest({ layers: [{ mediaType: MediaType.OciLayer, digest: D2, size: 1, annotations: { a: 1 } }] }), /annotations/],
      [manifest({ layers: [{ mediaType: MediaType.OciLayer, digest: D2, size: 1, urls: [1] }] }), /urls/],
      [manifest({ mediaType: 5 }), /mediaType/],
    ];
    for (const [doc, re] of cases) throwsCode(() => parseManifest(j(doc)), ErrorCode.InvalidContent, re);
    throwsCode(() => parseManifest(Buffer.from('{')), ErrorCode.InvalidContent, /not valid JSON/);
    throwsCode(() => parseManifest(Buffer.from('[]')), ErrorCode.InvalidContent, /not a JSON object/);
    throwsCode(() => parseManifest(Buffer.from([0xff, 0xfe, 0x7b, 0x7d])), ErrorCode.InvalidContent, /not valid JSON/);
  });

  it('enforces size and layer-count limits', () => {
    const layers = Array.from({ length: 1001 }, () => ({ mediaType: MediaType.OciLayer, digest: D2, size: 1 }));
    throwsCode(() => parseManifest(j(manifest({ layers }))), ErrorCode.InvalidContent, /1001 layers; at most 1000/);
    assert.equal(parseManifest(j(manifest({ layers: layers.slice(0, 1000) }))).layers.length, 1000);
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    throwsCode(() => parseManifest(big), ErrorCode.InvalidContent, /at most 4194304/);
  });

  it('puts the context into errors', () => {
    assert.throws(
      () => parseManifest(Buffer.from('nope'), undefined, { operation: 'pull', reference: 'docker.io/library/x:1', digest: D1 }),
      (e: BerthError) => {
        assert.match(e.message, /^pull docker\.io\/library\/x:1: /);
        assert.deepEqual(e.data, { operation: 'pull', reference: 'docker.io/library/x:1', digest: D1 });
        return true;
      },
    );
  });
});

describe('parseIndex', () => {
  const idx = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [
      { mediaType: MediaType.OciManifest, digest: D1, size: 10, platform: { architecture: 'amd64', os: 'linux' } },
      {
        mediaType: MediaType.OciManifest,
        digest: D2,
        size: 10,
        platform: { architecture: 'arm', os: 'linux', variant: 'v7', 'os.features': ['x'] },
      },
      {
        mediaType: MediaType.OciManifest,
        digest: D3,
        size: 10,
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
        platform: { architecture: 'unknown', os: 'unknown' },
      },
    ],
  };

  it('parses entries with platforms', () => {
    const i = parseIndex(j(idx));
    assert.equal(i.manifests.length, 3);
    assert.deepEqual(i.manifests[1].platform, { architecture: 'arm', os: 'linux', variant: 'v7', 'os.features': ['x'] });
    const list = parseIndex(j({ ...idx, mediaType: MediaType.DockerManifestList }));
    assert.equal(list.mediaType, MediaType.DockerManifestList);
  });

  it('validates entries and limits', () => {
    throwsCode(
      () => parseIndex(j({ ...idx, manifests: [{ ...idx.manifests[0], platform: { os: 'linux' } }] })),
      ErrorCode.InvalidContent,
      /platform/,
    );
    throwsCode(
      () => parseIndex(j({ ...idx, manifests: [{ ...idx.manifests[0], digest: 'x' }] })),
      ErrorCode.InvalidContent,
      /invalid digest/,
    );
    throwsCode(() => parseIndex(j({ ...idx, manifests: {} })), ErrorCode.InvalidContent, /manifests/);
    const many = Array.from({ length: 1001 }, () => idx.manifests[0]);
    throwsCode(() => parseIndex(j({ ...idx, manifests: many })), ErrorCode.InvalidContent, /1001 entries; at most 1000/);
    throwsCode(() => parseIndex(j(manifest())), ErrorCode.UnsupportedManifest, /got an image manifest/);
  });
});

describe('parseConfig', () => {
  it('parses a config and keeps only known fields', () => {
    const c = parseConfig(j({ ...config(), unknown: { x: 1 }, config: { ...config().config, Healthcheck: {} } }));
    assert.equal(c.architecture, 'amd64');
    assert.deepEqual(c.rootfs.diff_ids, [D2, D3]);
    assert.deepEqual(c.config?.Cmd, ['sh']);
    assert.equal(c.config?.Entrypoint, null);
    assert.deepEqual(c.config?.ExposedPorts, { '80/tcp': {} });
    assert.equal(c.history?.[1].empty_layer, true);
    assert.equal((c as unknown as Record<string, unknown>).unknown, undefined);
    assert.equal((c.config as unknown as Record<string, unknown>).Healthcheck, undefined);
  });

  it('treats null optional fields as absent', () => {
    const c = parseConfig(j(config({ config: { Env: null, Labels: null, Volumes: null, Cmd: null }, history: null, author: null })));
    assert.equal(c.config?.Env, undefined);
    assert.equal(c.config?.Labels, undefined);
    assert.equal(c.config?.Cmd, null);
    assert.equal(c.history, undefined);
  });

  it('refuses malformed configs', () => {
    const cases: Array<[unknown, RegExp]> = [
      [config({ architecture: 5 }), /architecture/],
      [config({ os: undefined }), /architecture/],
      [config({ rootfs: { type: 'other', diff_ids: [] } }), /rootfs/],
      [config({ rootfs: { type: 'layers' } }), /rootfs/],
      [config({ rootfs: { type: 'layers', diff_ids: ['sha256:zz'] } }), /diff_id 0/],
      [config({ config: { Env: 'PATH=/bin' } }), /Env/],
      [config({ config: { Cmd: [1] } }), /Cmd/],
      [config({ config: { Labels: { a: 1 } } }), /Labels/],
      [config({ config: { ExposedPorts: { '80/tcp': 1 } } }), /ExposedPorts/],
      [config({ config: 'x' }), /config/],
      [config({ history: [{ empty_layer: 'yes' }] }), /empty_layer/],
      [config({ history: ['x'] }), /history entry 0/],
      [config({ created: 5 }), /created/],
    ];
    for (const [doc, re] of cases) throwsCode(() => parseConfig(j(doc)), ErrorCode.InvalidContent, re);
    throwsCode(() => parseConfig(Buffer.alloc(8 * 1024 * 1024 + 1, 0x20)), ErrorCode.InvalidContent, /at most 8388608/);
  });

  it('checks that the config and manifest agree on the layer count', () => {
    const m = parseManifest(j(manifest()));
    checkConfigMatchesManifest(parseConfig(j(config())), m);
    // history length does not matter
    checkConfigMatchesManifest(parseConfig(j(config({ history: [] }))), m);
    throwsCode(
      () => checkConfigMatchesManifest(parseConfig(j(config({ rootfs: { type: 'layers', diff_ids: [D2] } }))), m),
      ErrorCode.InvalidContent,
      /lists 1 layers but the manifest lists 2/,
    );
  });
});

describe('media types', () => {
  it('the Accept header lists the image types, schema 1 last', () => {
    for (const t of [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest]) {
      assert.ok(MANIFEST_ACCEPT.includes(t));
    }
    assert.ok(MANIFEST_ACCEPT.indexOf(MediaType.DockerSchema1Manifest) > MANIFEST_ACCEPT.indexOf(MediaType.DockerManifest));
  });
});

/**
 * The layering of the image side of the agent: agent/oci/ is the ground floor (it imports nothing of
 * the agent but errors.ts; native/ and protocol/ are not the agent); store/ and registry/ stand on
 * it alone; nothing below agent/images/ reaches up into it. Read from the sources' import lines.
 */
describe('image layering', () => {
  const root = join(__dirname, '..', '..');
  const importsOf = (folder: string): Array<{ file: string; target: string }> => {
    const out: Array<{ file: string; target: string }> = [];
    for (const name of readdirSync(join(root, folder))) {
      if (!name.endsWith('.ts')) continue;
      const file = join(folder, name);
      for (const m of readFileSync(join(root, file), 'utf8').matchAll(/from '(\.{1,2}\/[^']*)'/g)) {
        out.push({ file, target: relative(root, normalize(join(root, dirname(file), m[1]))) });
      }
    }
    return out;
  };
  const outside = (folder: string, allowed: string[]) =>
    importsOf(folder).filter(({ target }) => !allowed.some((a) => target === a || target.startsWith(`${a}/`)));

  it('agent/oci imports only itself, agent/errors, native/ and protocol/', () => {
    assert.deepEqual(outside('agent/oci', ['agent/oci', 'agent/errors', 'native', 'protocol']), []);
  });

  it('agent/store and agent/registry stand on agent/oci alone', () => {
    const floor = ['agent/oci', 'agent/errors', 'native', 'protocol'];
    assert.deepEqual(outside('agent/store', [...floor, 'agent/store']), []);
    assert.deepEqual(outside('agent/registry', [...floor, 'agent/registry']), []);
  });

  it('agent/images reaches down only (oci, store, registry, events, presenters), never up', () => {
    const below = [
      'agent/oci',
      'agent/errors',
      'native',
      'protocol',
      'agent/store',
      'agent/registry',
      'agent/events',
      'agent/presenters',
      'agent/images',
    ];
    assert.deepEqual(outside('agent/images', below), []);
  });
});
