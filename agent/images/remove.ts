/**
 * `image/remove` (`berth rmi`): by tag, only that tag goes while others remain; otherwise every
 * tag and repo digest of the image goes, then the image and whatever of its layers and blobs no
 * other image uses (store gc). Refused (Conflict) for an image several tags name when it was not
 * named by tag, or one a container uses, unless forced. Emits `untag` per name and `delete`.
 */
import type { RemoveImageResult } from '../../protocol';
import { BerthError, ErrorCode } from '../errors';
import type { EventHub } from '../events';
import { familiarName, formatReference, withDefaultTag } from '../oci';
import type { Store } from '../store/store';
import { type ImageCatalog, parseOrUndefined } from './catalog';

export interface RemoverDeps {
  store: Store;
  catalog: ImageCatalog;
  events: EventHub;
  /** Who uses an image (container names); asked before an image is deleted. */
  users: (imageId: string) => string[];
}

export class Remover {
  constructor(private readonly deps: RemoverDeps) {}

  async remove(reference: string, force = false): Promise<RemoveImageResult> {
    const { store, catalog, events } = this.deps;
    const result = await store.locked(() => {
      const rec = catalog.lookup(reference, 'remove');
      const refs = store.readRefs();
      const tags = Object.keys(refs).filter((t) => refs[t] === rec.id);
      const out: RemoveImageResult = { Untagged: [], Deleted: [] };
      let byTag: string | undefined;
      const p = parseOrUndefined(reference);
      const name = p && !p.digest ? formatReference(withDefaultTag(p)) : undefined;
      if (name && refs[name] === rec.id) byTag = name;
      if (byTag && tags.length > 1) {
        delete refs[byTag];
        store.writeRefs(refs);
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
      const users = this.deps.users(rec.id);
      if (users.length > 0 && !force) {
        throw new BerthError(
          ErrorCode.Conflict,
          `remove: image ${rec.id.slice(7, 19)} is used by container${users.length > 1 ? 's' : ''} ${users.join(', ')}; remove ${users.length > 1 ? 'them' : 'it'} first or use --force`,
          { operation: 'remove', reference },
        );
      }
      for (const t of tags) delete refs[t];
      store.writeRefs(refs);
      out.Untagged.push(...tags);
      for (const d of rec.repoDigests) if (!out.Untagged.includes(d)) out.Untagged.push(d);
      store.deleteImage(rec.id);
      out.Deleted.push(rec.id, ...store.gc());
      return { out, id: rec.id };
    });
    for (const t of result.out.Untagged) events.emit('image', 'untag', result.id, { name: displayName(t) });
    if (result.out.Deleted.length > 0) events.emit('image', 'delete', result.id);
    return result.out;
  }
}

/** A stored name as Docker shows it ("busybox:latest"), or as is when it does not parse. */
function displayName(name: string): string {
  const p = parseOrUndefined(name);
  return p ? familiarName(p) : name;
}
