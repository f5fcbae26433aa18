/**
 * The build cache (agent/builder/cache.ts): keys change with every input; entries survive a new
 * cache object on the same store (an agent restart); corrupt entries, entries whose layers do not
 * chain or name other diff_ids, and entries whose layers were removed are misses, never errors.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BuildCache, type CacheKeyParts } from '../../agent/builder/cache';
import { chainIds, Store } from '../../agent/store/store';

const root = mkdtempSync(join(tmpdir(), 'berth-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));

const hex = (c: string) => c.repeat(64);
const diffIds = [`sha256:${hex('a')}`, `sha256:${hex('b')}`];
const chains = chainIds(diffIds);
const layers = diffIds.map((d, i) => ({
  digest: `sha256:${hex(String(i + 1))}`,
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  size: 10,
  diffId: d,
  chainId: chains[i],
}));
const config = JSON.stringify({
  architecture: 'amd64',
  os: 'linux',
  config: {},
  rootfs: { type: 'layers', diff_ids: diffIds },
  history: [{}, {}],
});

function storeWithLayers(): Store {
  const store = new Store(join(root, `store-${Math.random().toString(36).slice(2)}`));
  store.init();
  for (const l of layers) {
    mkdirSync(store.layerDir(l.chainId), { recursive: true });
    writeFileSync(join(store.layerDir(l.chainId), 'layer.json'), '{}');
    writeFileSync(store.blobPath(l.digest), 'x');
  }
  return store;
}

describe('build cache', () => {
  const base: CacheKeyParts = {
    parentConfig: `sha256:${hex('c')}`,
    parentChain: chains[0],
    instruction: 'RUN /bin/sh -c make',
    args: ['A=1'],
  };

  it('keys change with every input', () => {
    const k = BuildCache.key(base);
    assert.match(k, /^[0-9a-f]{64}$/);
    assert.equal(BuildCache.key({ ...base }), k, 'stable');
    for (const other of [
      { ...base, parentConfig: `sha256:${hex('d')}` },
      { ...base, parentChain: '' },
      { ...base, instruction: 'RUN /bin/sh -c make all' },
      { ...base, args: ['A=2'] },
      { ...base, args: [] },
      { ...base, content: `sha256:${hex('e')}` },
    ]) {
      assert.notEqual(BuildCache.key(other), k, JSON.stringify(other));
    }
  });

  it('stores and finds an entry, also from a new cache object on the same store', () => {
    const store = storeWithLayers();
    const key = BuildCache.key(base);
    assert.equal(new BuildCache(store).get(key), undefined, 'a miss before');
    new BuildCache(store).put(key, { config, layers });
    assert.deepEqual(new BuildCache(store).get(key), { config, layers });
  });

  it('corrupt or inconsistent entries are misses, and say so in the log', () => {
    const store = storeWithLayers();
    const logged: string[] = [];
    const cache = new BuildCache(store, (m) => logged.push(m));
    const bad: [string, string][] = [
      ['not json', '{'],
      ['wrong shape', '{"config": 1, "layers": []}'],
      ['bad layer', JSON.stringify({ config, layers: [{ ...layers[0], digest: 'sha256:xyz' }] })],
      ['no chain', JSON.stringify({ config, layers: [layers[1], layers[0]] })],
      ['other diff_ids', JSON.stringify({ config: config.replace(hex('b'), hex('f')), layers })],
      ['bad config', JSON.stringify({ config: '{"x":1}', layers })],
    ];
    for (const [what, text] of bad) {
      const key = BuildCache.key({ ...base, instruction: what });
      mkdirSync(cache.dir, { recursive: true });
      writeFileSync(join(cache.dir, `${key}.json`), text);
      assert.equal(cache.get(key), undefined, what);
    }
    assert.equal(logged.length, bad.length, logged.join('\n'));
    assert.throws(() => cache.get('../../etc/passwd'), /bad build cache key/);
  });

  it('an entry whose layer or blob was removed from the store is a miss', () => {
    const store = storeWithLayers();
    const cache = new BuildCache(store);
    const key = BuildCache.key(base);
    cache.put(key, { config, layers });
    rmSync(store.blobPath(layers[1].digest));
    assert.equal(cache.get(key), undefined);
    writeFileSync(store.blobPath(layers[1].digest), 'x');
    assert.ok(cache.get(key));
    rmSync(store.layerDir(layers[0].chainId), { recursive: true });
    assert.equal(cache.get(key), undefined);
  });
});
