/**
 * The image service: the one owner of everything about images. It wires the verbs, each in its own
 * file and given what it needs through its constructor (pull.ts, push.ts, load.ts, save.ts,
 * remove.ts, layers.ts over catalog.ts, the store, the registry client and the event hub), does the
 * smallest one itself (tag), and shapes answers for the JSON-RPC front door through
 * agent/presenters/images.ts. It knows nothing of JSON-RPC, so other front doors (a Docker-
 * compatible API, remote agents) can sit on it later.
 */
import type { PeerCred } from '../../native';
import type {
  HistoryEntry,
  ImageEventAction,
  ImageInspect,
  ImageLayersResult,
  ImageSummary,
  LayerFilesParams,
  LayerFilesResult,
  PullResult,
  PushResult,
  RemoveImageResult,
} from '../../protocol';
import { BerthError, ErrorCode } from '../errors';
import { EventHub, type EventListener } from '../events';
import { familiarName, formatReference, hostPlatform, type ImageConfig, parseReference, withDefaultTag } from '../oci';
import { imageHistory, imageInspect, imageSummary } from '../presenters/images';
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
  async pull(reference: string, opts: PullOptions = {}): Promise<PullResult> {
    const ref = withDefaultTag(parseReference(reference));
    const { rec, digest, upToDate } = await this.puller.pull(ref, opts.platform ?? hostPlatform(), opts);
    return { image: this.summary(rec), digest, upToDate };
  }

  /** `image/push` of a tag of the store (see push.ts). */
  push(reference: string, opts: PushOptions = {}): Promise<PushResult> {
    return this.pusher.push(reference, opts);
  }

  /** `image/load` of an archive on the agent's machine, read as `peer` may (see load.ts). */
  async load(path: string, peer?: PeerCred): Promise<{ images: ImageSummary[]; tags: string[] }> {
    const { records, tags } = await this.loader.load(path, peer);
    return { images: records.map((rec) => this.summary(rec)), tags };
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

  list(all = true): ImageSummary[] {
    const tagsById = invertRefs(this.store.readRefs());
    const out: ImageSummary[] = [];
    for (const rec of this.store.listImages()) {
      const tags = tagsById.get(rec.id) ?? [];
      if (!all && tags.length === 0) continue;
      out.push(this.summary(rec, tags));
    }
    return out.sort((a, b) => b.Created - a.Created || a.Id.localeCompare(b.Id));
  }

  summary(rec: ImageRecord, tags?: string[]): ImageSummary {
    return imageSummary(this.store, rec, this.config(rec), tags ?? this.catalog.tagsOf(rec.id));
  }

  config(rec: ImageRecord): ImageConfig {
    return this.catalog.config(rec);
  }

  /** See {@link ImageCatalog.lookup}. */
  lookup(reference: string, operation = 'inspect'): ImageRecord {
    return this.catalog.lookup(reference, operation);
  }

  inspect(reference: string): ImageInspect {
    const rec = this.lookup(reference, 'inspect');
    return imageInspect(this.store, rec, this.config(rec), this.catalog.tagsOf(rec.id));
  }

  history(reference: string): HistoryEntry[] {
    const rec = this.lookup(reference, 'history');
    return imageHistory(this.store, rec, this.config(rec), this.catalog.tagsOf(rec.id));
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
