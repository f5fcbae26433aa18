/**
 * `image/pull`: resolve the reference at its registry, bring every layer into the store
 * (ensureLayers.ts), then record the image and move its tag. Docker's semantics: the tag is always
 * re-resolved; what the store already has (layers by chain ID, blobs by digest) is reused, never
 * fetched again. Emits `pull` (and `tag` when the tag moved) on the event hub.
 */
import type { LayerProgress, Platform } from '../../protocol';
import type { EventHub } from '../events';
import { familiarName, formatReference, type ImageReference } from '../oci';
import type { RegistryClient } from '../registry/client';
import { chainIds, type ImageRecord, type Store } from '../store/store';
import { type ImageCatalog, newImageRecord } from './catalog';
import { ensureLayers } from './ensureLayers';

export interface PullOptions {
  platform?: Platform;
  signal?: AbortSignal;
  onProgress?: (p: LayerProgress) => void;
}

/** What a pull did: the image's record, the digest the reference resolved to, and whether nothing was new. */
export interface Pulled {
  rec: ImageRecord;
  digest: string;
  upToDate: boolean;
}

export interface PullerDeps {
  store: Store;
  registry: RegistryClient;
  catalog: ImageCatalog;
  events: EventHub;
}

export class Puller {
  constructor(private readonly deps: PullerDeps) {}

  /** Pulls `ref` (tag defaulted by the caller) for `platform`. Errors: the registry's, the unpacker's, Cancelled. */
  async pull(ref: ImageReference, platform: Platform, opts: PullOptions): Promise<Pulled> {
    const { store, registry, catalog, events } = this.deps;
    const resolved = await registry.resolve(ref, platform, opts.signal);
    const { manifest, config } = resolved;
    // resolve() has checked that the config names one diff_id per manifest layer.
    const diffIds = config.rootfs.diff_ids;
    const imageId = manifest.config.digest;
    const chains = chainIds(diffIds);
    const release = store.lease([...chains, ...manifest.layers.map((l) => l.digest), imageId, resolved.manifestDigest]);
    try {
      const before = store.readImage(imageId);
      const upToDate = !!before && chains.every((c) => store.hasLayer(c));
      await ensureLayers(store, { registry }, ref, manifest.layers, diffIds, chains, opts);

      store.putBlob(imageId, resolved.configBytes);
      store.putBlob(resolved.manifestDigest, resolved.manifestBytes);
      if (resolved.indexDigest && resolved.indexBytes) store.putBlob(resolved.indexDigest, resolved.indexBytes);

      const resolvedDigest = resolved.indexDigest ?? resolved.manifestDigest;
      const repoDigest = `${ref.registry}/${ref.repository}@${resolvedDigest}`;
      let tagMoved = false;
      const rec = await store.locked(() => {
        const rec: ImageRecord =
          store.readImage(imageId) ??
          newImageRecord({
            id: imageId,
            manifestDigest: resolved.manifestDigest,
            manifestMediaType: resolved.manifestMediaType,
            indexDigest: resolved.indexDigest,
            layers: manifest.layers,
            diffIds,
            chains,
          });
        if (!rec.repoDigests.includes(repoDigest)) rec.repoDigests.push(repoDigest);
        store.writeImage(rec);
        if (ref.tag && !ref.digest) {
          const name = formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag });
          tagMoved = catalog.setTag(name, rec) !== rec.id;
        }
        return rec;
      });
      events.emit('image', 'pull', imageId, { name: familiarName(ref) });
      if (tagMoved) events.emit('image', 'tag', imageId, { name: familiarName({ ...ref, digest: undefined }) });
      return { rec, digest: resolvedDigest, upToDate };
    } finally {
      release();
    }
  }
}
