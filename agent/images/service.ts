/**
 * The image service: the one owner of everything about images. It wires the verbs, each in its own
 * file and given what it needs through its constructor (pull.ts, push.ts, load.ts, save.ts,
 * remove.ts, layers.ts over catalog.ts, the store, the registry client and the event hub) and does
 * the smallest one itself (tag). It answers in Berth's own words: an {@link ImageView} is an image
 * record with what a front door needs to show it (config, tags, sizes); the Docker-shaped answers
 * are made from views at the edge (agent/presenters/images.ts), so every front door (JSON-RPC, a
 * Docker-compatible API) presents the same model.
 */
import type { PeerCred } from '../../native';
import type {
  ImageEventAction,
  ImageLayersResult,
  LayerFilesParams,
  LayerFilesResult,
  PushResult,
  RemoveImageResult,
} from '../../protocol';
import { BerthError, ErrorCode } from '../errors';
import { EventHub, type EventListener } from '../events';
import { familiarName, formatReference, hostPlatform, type ImageConfig, parseReference, withDefaultTag } from '../oci';
import type { RegistryClient } from '../registry/client';
import type { ImageRecord, Store } from '../store/store';
import { ImageCatalog, invertRefs } from './catalog';
import { LayerInspector, page } from './layers';
import { Loader } from './load';
import { Puller, type PullOptions } from './pull';
import { Pusher, type PushOptions } from './push';
import { Remover } from './remove';
import { Saver } from './save';

export type { EventListener } from '../events';
export type { PullOptions } from './pull';
export type { PushOptions } from './push';

/** An image as the core knows it, with what presenting it needs. */
export interface ImageView {
  record: ImageRecord;
  config: ImageConfig;
  /** Full stored names pointing at it ("docker.io/library/busybox:latest"). */
  tags: string[];
  /** Bytes of its unpacked layers. */
  size: number;
  /** Per layer (bottom first): its unpacked size (undefined when not unpacked) and its directory. */
  layers: { size: number | undefined; path: string }[];
}

export class ImageService {
  /** Who uses an image (container names), asked before an image is deleted; set by the container service. */
  imageUsers: (imageId: string) => string[] = () => [];

  readonly catalog: ImageCatalog;
  private readonly puller: Puller;
  private readonly pusher: Pusher;
  private readonly loader: Loader;
  private readonly saver: Saver;
  private readonly inspector: LayerInspector;
  private readonly remover: Remover;

  constructor(
    readonly store: Store,
    readonly registry: RegistryClient,
    readonly events: EventHub = new EventHub(),
  ) {
    const catalog = new ImageCatalog(store);
    this.catalog = catalog;
    this.puller = new Puller({ store, registry, catalog, events });
    this.pusher = new Pusher({ store, registry, events });
    this.loader = new Loader({ store, catalog, events });
    this.saver = new Saver({ store, catalog, events });
    this.inspector = new LayerInspector(store);
    this.remover = new Remover({ store, catalog, events, users: (id) => this.imageUsers(id) });
  }

  /** Subscribes to events (images' and containers'); returns the unsubscribe function. */
  onEvent(listener: EventListener): () => void {
    return this.events.on(listener);
  }

  emit(action: ImageEventAction, id: string, attributes: Record<string, string> = {}): void {
    this.events.emit('image', action, id, attributes);
  }

  /** `image/pull`: the tag defaults to latest, the platform to the host's. */
  async pull(reference: string, opts: PullOptions = {}): Promise<{ view: ImageView; digest: string; upToDate: boolean }> {
    const ref = withDefaultTag(parseReference(reference));
    const { rec, digest, upToDate } = await this.puller.pull(ref, opts.platform ?? hostPlatform(), opts);
    return { view: this.view(rec), digest, upToDate };
  }

  /** `image/push` of a tag of the store (see push.ts). */
  push(reference: string, opts: PushOptions = {}): Promise<PushResult> {
    return this.pusher.push(reference, opts);
  }

  /** `image/load` of an archive on the agent's machine, read as `peer` may (see load.ts). */
  async load(path: string, peer?: PeerCred): Promise<{ views: ImageView[]; tags: string[] }> {
    const { records, tags } = await this.loader.load(path, peer);
    return { views: records.map((rec) => this.view(rec)), tags };
  }

  /** `image/save` to a `docker save` archive, written as `peer` may (see save.ts). */
  save(references: string[], path: string, peer?: PeerCred): Promise<{ path: string; size: number }> {
    return this.saver.save(references, path, peer);
  }

  /** `image/layers` for the image `reference` names. */
  layers(reference: string): ImageLayersResult {
    const rec = this.lookup(reference, 'image layers');
    return this.inspector.analysis(rec, this.config(rec)).summary;
  }

  /** `image/layerFiles`: one page of a layer's records or of the merged tree. */
  layerFiles(params: LayerFilesParams): LayerFilesResult {
    const rec = this.lookup(params.reference, 'layer files');
    return page(this.inspector.analysis(rec, this.config(rec)), params);
  }

  /** Every image (`all`) or only the tagged ones, newest first (then by ID). */
  views(all = true): ImageView[] {
    const tagsById = invertRefs(this.store.readRefs());
    const out: ImageView[] = [];
    for (const rec of this.store.listImages()) {
      const tags = tagsById.get(rec.id) ?? [];
      if (!all && tags.length === 0) continue;
      out.push(this.view(rec, tags));
    }
    // Whole seconds, as the summaries show them: images made in the same second sort by ID.
    const created = (v: ImageView) => Math.floor(Date.parse(v.config.created ?? '') / 1000) || 0;
    return out.sort((a, b) => created(b) - created(a) || a.record.id.localeCompare(b.record.id));
  }

  /** The view of the image `reference` names (NotFound, worded with `operation`, otherwise). */
  viewOf(reference: string, operation = 'inspect'): ImageView {
    return this.view(this.lookup(reference, operation));
  }

  view(rec: ImageRecord, tags?: string[]): ImageView {
    // Each layer record is read once; the image's size is their sum (as Store.layersSize counts it).
    const layers = rec.layers.map(({ chainId }) => ({
      size: this.store.hasLayer(chainId) ? this.store.readLayer(chainId).size : undefined,
      path: this.store.layerDiffDir(chainId),
    }));
    return {
      record: rec,
      config: this.config(rec),
      tags: tags ?? this.catalog.tagsOf(rec.id),
      size: layers.reduce((sum, l) => sum + (l.size ?? 0), 0),
      layers,
    };
  }

  config(rec: ImageRecord): ImageConfig {
    return this.catalog.config(rec);
  }

  /** See {@link ImageCatalog.lookup}. */
  lookup(reference: string, operation = 'inspect'): ImageRecord {
    return this.catalog.lookup(reference, operation);
  }

  async tag(source: string, target: string): Promise<void> {
    const rec = this.lookup(source, 'tag');
    const ref = withDefaultTag(parseReference(target));
    if (ref.digest) {
      throw new BerthError(ErrorCode.InvalidReference, `tag: "${target}" has a digest; a tag cannot name one`, {
        operation: 'tag',
        reference: target,
      });
    }
    const name = formatReference(ref);
    await this.store.locked(() => this.setTag(name, rec));
    this.emit('tag', rec.id, { name: familiarName(ref) });
  }

  /** See {@link ImageCatalog.setTag}. */
  setTag(name: string, rec: ImageRecord): string | undefined {
    return this.catalog.setTag(name, rec);
  }

  /** `image/remove` (see remove.ts). */
  remove(reference: string, force = false): Promise<RemoveImageResult> {
    return this.remover.remove(reference, force);
  }
}
