/**
 * The image catalog: what the store's records and tags say about images, in the store's own
 * words (ImageRecord, ImageConfig). Finds an image by any name a user may give, reads its config,
 * and moves tags. Every image verb (pull, load, save, push, tag, remove, the layer inspector) and
 * the runtime/builder reach images through here; it knows nothing of registries, events or wire
 * shapes.
 */
import { BerthError, ErrorCode } from '../errors';
import {
  type Descriptor,
  formatReference,
  type ImageConfig,
  type ImageReference,
  parseConfig,
  parseReference,
  withDefaultTag,
} from '../oci';
import type { ImageRecord, Store } from '../store/store';

export class ImageCatalog {
  constructor(readonly store: Store) {}

  /** The parsed config blob of a stored image. */
  config(rec: ImageRecord): ImageConfig {
    return parseConfig(this.store.readBlob(rec.id));
  }

  /** The tags (full stored names, sorted) that point at image `id`. */
  tagsOf(id: string): string[] {
    return invertRefs(this.store.readRefs()).get(id) ?? [];
  }

  /**
   * Finds an image by tag, repository@digest, full ID or unique ID prefix (4+ hex digits).
   * Throws NotFound with the reference in a sentence, Conflict when a prefix is ambiguous.
   */
  lookup(reference: string, operation = 'inspect'): ImageRecord {
    const refs = this.store.readRefs();
    const parsed = parseOrUndefined(reference);
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
}

/** What a new image record is made of: its config digest (the ID), its manifest, and its layers. */
export interface NewImage {
  id: string;
  manifestDigest: string;
  manifestMediaType: string;
  indexDigest?: string;
  /** The manifest's layer descriptors, bottom first, with the config's diff IDs and the chain IDs. */
  layers: readonly Descriptor[];
  diffIds: readonly string[];
  chains: readonly string[];
}

/** A fresh record for an image the store does not have yet (no repo digests, never tagged). */
export function newImageRecord(img: NewImage): ImageRecord {
  return {
    id: img.id,
    manifestDigest: img.manifestDigest,
    manifestMediaType: img.manifestMediaType,
    ...(img.indexDigest ? { indexDigest: img.indexDigest } : {}),
    repoDigests: [],
    layers: img.layers.map((l, i) => ({
      digest: l.digest,
      mediaType: l.mediaType,
      size: l.size,
      diffId: img.diffIds[i],
      chainId: img.chains[i],
    })),
    added: new Date().toISOString(),
    lastTagTime: '',
  };
}

/** A reference parsed, or undefined when `reference` is no valid reference (an ID prefix, say). */
export function parseOrUndefined(reference: string): ImageReference | undefined {
  try {
    return parseReference(reference);
  } catch (e) {
    if (e instanceof BerthError && e.code === ErrorCode.InvalidReference) return undefined;
    throw e;
  }
}

/** Tags by image ID, each list sorted. */
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
