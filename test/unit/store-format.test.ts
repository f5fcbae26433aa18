/**
 * The store's image and layer records carry a format version: records written before it existed
 * (today's stores before issue 11) are read and rewritten on open; a newer format is refused with a
 * sentence naming the file.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type BerthError, ErrorCode } from '../../agent/errors';
import { RECORD_FORMAT, Store } from '../../agent/store/store';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function freshStore(): Store {
  const root = mkdtempSync(join(tmpdir(), 'berth-store-format-'));
  roots.push(root);
  const store = new Store(root);
  store.init();
  return store;
}

const hex = (c: string) => c.repeat(64);

/** An image record exactly as the agent before issue 11 wrote it (no formatVersion). */
const legacyImage = {
  id: `sha256:${hex('a')}`,
  manifestDigest: `sha256:${hex('b')}`,
  manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
  repoDigests: [`127.0.0.1:5000/box@sha256:${hex('b')}`],
  layers: [
    {
      digest: `sha256:${hex('c')}`,
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      size: 1234,
      diffId: `sha256:${hex('d')}`,
      chainId: `sha256:${hex('d')}`,
    },
  ],
  added: '2026-11-23T02:07:35.000Z',
  lastTagTime: '2026-11-23T02:07:36.000Z',
};

describe('store record formats', () => {
  it('rewrites image records of the old format with formatVersion when the store is opened, fields unchanged', () => {
    const store = freshStore();
    const path = join(store.root, 'images', `${hex('a')}.json`);
    writeFileSync(path, JSON.stringify(legacyImage, null, 1));
    // A store written before formats were recorded has no format.json.
    const marker = join(store.root, 'format.json');
    assert.deepEqual(JSON.parse(readFileSync(marker, 'utf8')), { formatVersion: RECORD_FORMAT });
    rmSync(marker);
    const reopened = new Store(store.root);
    reopened.init();
    assert.deepEqual(JSON.parse(readFileSync(marker, 'utf8')), { formatVersion: RECORD_FORMAT });
    const onDisk = JSON.parse(readFileSync(path, 'utf8'));
    assert.equal(onDisk.formatVersion, RECORD_FORMAT);
    const { formatVersion: _, ...rest } = onDisk;
    assert.deepEqual(rest, legacyImage);
    assert.deepEqual(reopened.readImage(legacyImage.id), { formatVersion: RECORD_FORMAT, ...legacyImage });
    // Opening again changes nothing more.
    assert.deepEqual(reopened.migrateImages(), []);
  });

  it('migrates once: a store that says its format is not scanned again', () => {
    const store = freshStore();
    const path = join(store.root, 'images', `${hex('a')}.json`);
    writeFileSync(path, JSON.stringify(legacyImage, null, 1));
    new Store(store.root).init();
    // format.json says format 1: the record written behind its back stays as it is (read as format 1).
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).formatVersion, undefined);
    assert.equal(store.readImage(legacyImage.id)?.id, legacyImage.id);
  });

  it('refuses to open a store of a newer format, naming format.json', () => {
    const store = freshStore();
    const marker = join(store.root, 'format.json');
    writeFileSync(marker, JSON.stringify({ formatVersion: RECORD_FORMAT + 1 }));
    assert.throws(
      () => new Store(store.root).init(),
      (e: BerthError) => {
        assert.equal(e.code, ErrorCode.InvalidContent);
        assert.equal(e.data.path, marker);
        assert.match(e.message, /open store: .*format 2; this agent reads format 1/);
        return true;
      },
    );
  });

  it('leaves an unparsable image record for berth check instead of failing the open', () => {
    const store = freshStore();
    const path = join(store.root, 'images', `${hex('e')}.json`);
    writeFileSync(path, '{"id": ');
    assert.deepEqual(store.migrateImages(), []);
    assert.equal(readFileSync(path, 'utf8'), '{"id": ');
  });

  it('refuses an image record of a newer format, naming the file', () => {
    const store = freshStore();
    const path = join(store.root, 'images', `${hex('a')}.json`);
    writeFileSync(path, JSON.stringify({ ...legacyImage, formatVersion: RECORD_FORMAT + 1 }));
    assert.throws(
      () => store.readImage(legacyImage.id),
      (e: BerthError) => {
        assert.equal(e.code, ErrorCode.InvalidContent);
        assert.equal(e.data.path, path);
        assert.match(e.message, /record format 2; this agent reads format 1/);
        return true;
      },
    );
    // Not rewritten by the migration either.
    assert.deepEqual(store.migrateImages(), []);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).formatVersion, RECORD_FORMAT + 1);
  });

  it('reads layer records of the old format as they are, and writes new ones with formatVersion', () => {
    const store = freshStore();
    const chain = `sha256:${hex('d')}`;
    const legacyLayer = {
      chainId: chain,
      diffId: chain,
      parent: null,
      blobDigest: `sha256:${hex('c')}`,
      blobMediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      blobSize: 1234,
      tarSize: 10240,
      size: 42,
      created: '2026-11-23T02:07:35.000Z',
    };
    const dir = store.layerDir(chain);
    mkdirSync(join(dir, 'diff'), { recursive: true });
    writeFileSync(join(dir, 'layer.json'), JSON.stringify(legacyLayer));
    assert.deepEqual(store.readLayer(chain), legacyLayer);

    const other = `sha256:${hex('f')}`;
    const tmp = join(store.root, 'tmp', 'layer-f');
    mkdirSync(join(tmp, 'diff'), { recursive: true });
    store.commitLayer(tmp, { ...legacyLayer, chainId: other, diffId: other });
    assert.equal(JSON.parse(readFileSync(join(store.layerDir(other), 'layer.json'), 'utf8')).formatVersion, RECORD_FORMAT);
    assert.equal(store.readLayer(other).size, 42);
  });
});
