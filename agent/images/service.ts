/**
 * The image service: the core's one front for everything about images (pull, list, inspect, tag,
 * remove, history, save, load). It knows the store and the registry client, and reports changes
 * as Docker-shaped events to whoever listens; it knows nothing of JSON-RPC, so other front doors
 * (a Docker-compatible API, remote agents) can sit on it later.
 */
import type {
  ImageEventAction,
  HistoryEntry,
  ImageInspect,
  ImageSummary,
  LayerProgress,
  Platform,
  PullResult,
  RemoveImageResult,
} from '../../protocol';
import { BerthError, ErrorCode } from '../errors';
import { EventHub, type EventListener } from '../events';
import type { RegistryClient } from '../registry/client';
import { hostPlatform } from '../oci/platform';
import type { ImageRecord, Store } from '../store/store';
import { parseConfig, type ImageConfig } from '../oci';
import { pullImage } from './pull';
import { familiarName, formatReference, parseReference, withDefaultTag } from '../oci/reference';

export type { EventListener } from '../events';

export interface PullOptions {
  platform?: Platform;
  signal?: AbortSignal;
  onProgress?: (p: LayerProgress) => void;
}

export class ImageService {
  /** Who uses an image (container names), asked before an image is deleted; set by the container service. */
  imageUsers: (imageId: string) => string[] = () => [];

  constructor(
    readonly store: Store,
    readonly registry: RegistryClient,
    readonly events: EventHub = new EventHub(),
  ) {}

  /** Subscribes to events (images' and containers'); returns the unsubscribe function. */
  onEvent(listener: EventListener): () => void {
    return this.events.on(listener);
  }

  emit(action: ImageEventAction, id: string, attributes: Record<string, string> = {}): void {
    this.events.emit('image', action, id, attributes);
  }

  async pull(reference: string, opts: PullOptions = {}): Promise<PullResult> {
    const ref = withDefaultTag(parseReference(reference));
    const platform = opts.platform ?? hostPlatform();
    const result = await pullImage(this, ref, platform, opts);
    return result;
  }

  list(all = true): ImageSummary[] {
    const refs = this.store.readRefs();
    const tagsById = invertRefs(refs);
    const out: ImageSummary[] = [];
    for (const rec of this.store.listImages()) {
      const tags = tagsById.get(rec.id) ?? [];
      if (!all && tags.length === 0) continue;
      out.push(this.summary(rec, tags));
    }
    return out.sort((a, b) => b.Created - a.Created || a.Id.localeCompare(b.Id));
  }

  summary(rec: ImageRecord, tags?: string[]): ImageSummary {
    const config = this.config(rec);
    return {
      Id: rec.id,
      RepoTags: tags ?? invertRefs(this.store.readRefs()).get(rec.id) ?? [],
      RepoDigests: rec.repoDigests,
      Created: config.created ? Math.floor(Date.parse(config.created) / 1000) || 0 : 0,
      Size: this.store.layersSize(rec.layers.map((l) => l.chainId)),
      Layers: rec.layers.length,
      Labels: config.config?.Labels ?? {},
    };
  }

  config(rec: ImageRecord): ImageConfig {
    return parseConfig(this.store.readBlob(rec.id));
  }

  /**
   * Finds an image by tag, repository@digest, full ID or unique ID prefix (4+ hex digits).
   * Throws NotFound with the reference in a sentence.
   */
  lookup(reference: string, operation = 'inspect'): ImageRecord {
    const refs = this.store.readRefs();
    let parsed;
    try {
      parsed = parseReference(reference);
    } catch {
      parsed = undefined;
    }
    if (parsed) {
      if (parsed.digest) {
        const want = `${parsed.registry}/${parsed.repository}@${parsed.digest}`;
        for (const rec of this.store.listImages()) {
          if (rec.repoDigests.includes(want) || rec.id === parsed.digest) return rec;
        }
      } else {
        const id = refs[formatReference(withDefaultTag(parsed))];
        const rec = id ? this.store.readImage(id) : undefined;
        if (rec) return rec;
      }
    }
    const hex = reference.startsWith('sha256:') ? reference.slice(7) : reference;
    if (/^[0-9a-f]{4,64}$/.test(hex)) {
      const matches = this.store.listImages().filter((r) => r.id.slice(7).startsWith(hex));
      if (matches.length === 1) return matches[0];
      if (matches.length > 1) {
        throw new BerthError(ErrorCode.Conflict, `${operation}: "${reference}" matches ${matches.length} images; give more of the ID`, {
          operation,
          reference,
        });
      }
    }
    throw new BerthError(ErrorCode.NotFound, `${operation}: no such image: ${reference}`, { operation, reference });
  }

  inspect(reference: string): ImageInspect {
    const rec = this.lookup(reference, 'inspect');
    const config = this.config(rec);
    const c = config.config ?? {};
    const tags = invertRefs(this.store.readRefs()).get(rec.id) ?? [];
    return {
      Id: rec.id,
      RepoTags: tags,
      RepoDigests: rec.repoDigests,
      Created: config.created ?? '',
      Author: config.author ?? '',
      Architecture: config.architecture,
      Os: config.os,
      ...(config.variant ? { Variant: config.variant } : {}),
      Size: this.store.layersSize(rec.layers.map((l) => l.chainId)),
      Config: {
        User: c.User ?? '',
        Env: c.Env ?? [],
        Entrypoint: c.Entrypoint ?? null,
        Cmd: c.Cmd ?? null,
        WorkingDir: c.WorkingDir ?? '',
        ExposedPorts: c.ExposedPorts ?? {},
        Volumes: c.Volumes ?? {},
        Labels: c.Labels ?? {},
        StopSignal: c.StopSignal ?? '',
      },
      RootFS: { Type: 'layers', Layers: rec.layers.map((l) => l.diffId) },
      Metadata: { LastTagTime: rec.lastTagTime },
      Berth: {
        ManifestDigest: rec.manifestDigest,
        ManifestMediaType: rec.manifestMediaType,
        Layers: rec.layers.map((l) => {
          const layer = this.store.hasLayer(l.chainId) ? this.store.readLayer(l.chainId) : undefined;
          return {
            Digest: l.digest,
            DiffID: l.diffId,
            ChainID: l.chainId,
            CompressedSize: l.size,
            Size: layer?.size ?? 0,
            Path: this.store.layerDiffDir(l.chainId),
          };
        }),
      },
    };
  }

  history(reference: string): HistoryEntry[] {
    const rec = this.lookup(reference, 'history');
    const config = this.config(rec);
    const tags = invertRefs(this.store.readRefs()).get(rec.id) ?? [];
    const steps =
      config.history && config.history.length > 0
        ? config.history
        : rec.layers.map(() => ({}) as NonNullable<ImageConfig['history']>[number]);
    const rows: HistoryEntry[] = [];
    let layer = 0;
    for (const h of steps) {
      const empty = !!h.empty_layer;
      const l = empty ? undefined : rec.layers[layer++];
      rows.push({
        Id: '<missing>',
        Created: h.created ? Math.floor(Date.parse(h.created) / 1000) || 0 : 0,
        CreatedBy: h.created_by ?? '',
        Tags: null,
        Size: l && this.store.hasLayer(l.chainId) ? this.store.readLayer(l.chainId).size : 0,
        Comment: h.comment ?? '',
        EmptyLayer: empty,
      });
    }
    rows.reverse();
    if (rows.length > 0) {
      rows[0].Id = rec.id;
      rows[0].Tags = tags;
    }
    return rows;
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

  /** Points `name` at `rec` (call under the store lock). Returns the ID it pointed at before. */
  setTag(name: string, rec: ImageRecord): string | undefined {
    const refs = this.store.readRefs();
    const before = refs[name];
    if (before === rec.id) return before;
    refs[name] = rec.id;
    rec.lastTagTime = new Date().toISOString();
    this.store.writeImage(rec);
    this.store.writeRefs(refs);
    return before;
  }

  async remove(reference: string, force = false): Promise<RemoveImageResult> {
    const result = await this.store.locked(() => {
      const rec = this.lookup(reference, 'remove');
      const refs = this.store.readRefs();
      const tags = Object.keys(refs).filter((t) => refs[t] === rec.id);
      const out: RemoveImageResult = { Untagged: [], Deleted: [] };
      let byTag: string | undefined;
      try {
        const p = parseReference(reference);
        const name = p.digest ? undefined : formatReference(withDefaultTag(p));
        if (name && refs[name] === rec.id) byTag = name;
      } catch {
        byTag = undefined;
      }
      if (byTag && tags.length > 1) {
        delete refs[byTag];
        this.store.writeRefs(refs);
        out.Untagged.push(byTag);
        return { out, id: rec.id };
      }
      if (!byTag && tags.length > 1 && !force) {
        throw new BerthError(
          ErrorCode.Conflict,
          `remove: image ${rec.id.slice(7, 19)} is referenced by ${tags.length} tags (${tags.join(', ')}); remove them one by one or use --force`,
          { operation: 'remove', reference },
        );
      }
      const users = this.imageUsers(rec.id);
      if (users.length > 0 && !force) {
        throw new BerthError(
          ErrorCode.Conflict,
          `remove: image ${rec.id.slice(7, 19)} is used by container${users.length > 1 ? 's' : ''} ${users.join(', ')}; remove ${users.length > 1 ? 'them' : 'it'} first or use --force`,
          { operation: 'remove', reference },
        );
      }
      for (const t of tags) delete refs[t];
      this.store.writeRefs(refs);
      out.Untagged.push(...tags);
      for (const d of rec.repoDigests) if (!out.Untagged.includes(d)) out.Untagged.push(d);
      this.store.deleteImage(rec.id);
      out.Deleted.push(rec.id, ...this.store.gc());
      return { out, id: rec.id };
    });
    for (const t of result.out.Untagged) this.emit('untag', result.id, { name: displayName(t) });
    if (result.out.Deleted.length > 0) this.emit('delete', result.id);
    return result.out;
  }
}

/** A stored name as Docker shows it ("busybox:latest"), or as is when it does not parse. */
function displayName(name: string): string {
  try {
    return familiarName(parseReference(name));
  } catch {
    return name;
  }
}

export function invertRefs(refs: Record<string, string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [tag, id] of Object.entries(refs)) {
    const list = out.get(id) ?? [];
    list.push(tag);
    out.set(id, list);
  }
  for (const list of out.values()) list.sort();
  return out;
}
