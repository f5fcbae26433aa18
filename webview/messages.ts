/**
 * Messages between the inspector page and the extension (LayerInspectorPanel). The page asks, the
 * extension forwards to the agent (`image/layers`, `image/layerFiles` for an image) and answers by
 * id; the extension also tells the page what to show, and again whenever it changes.
 *
 * A container's view is pushed: the panel subscribes to the container's change feed
 * (extension/inspector/changeFeed.ts) and posts every update as `containerChanges` (a whole list
 * with `reset`, else a delta); `changes` (the Refresh button, and after a reload) answers with
 * the whole list. Each list and delta carries the feed's `version` (one more per update), so the
 * page applies a delta only on top of the version before it and asks again when it missed one.
 */
import type { ChangesImageLayer, ContainerFileChange, ImageLayersResult, LayerFilesParams, LayerFilesResult } from '../protocol';

/** A container's whole list of changes, as the page shows it. */
export interface ContainerChangesView {
  /** The feed's version; undefined for a one-off answer (the page then waits for a pushed list). */
  version?: number;
  running: boolean;
  layers: ChangesImageLayer[];
  changes: ContainerFileChange[];
}

export type PageRequest =
  | { kind: 'request'; id: number; method: 'layers' }
  | { kind: 'request'; id: number; method: 'files'; params: Omit<LayerFilesParams, 'reference'> }
  | { kind: 'request'; id: number; method: 'changes' };

/** Page -> extension. `ready` once the page listens. */
export type PageMessage = { kind: 'ready' } | PageRequest;

/** Extension -> page. */
export type HostMessage =
  /**
   * Show (or reload) this image, or this container's writable layer (`source` 'container'; the
   * page then asks for `changes` only); `title` is how the user knows it.
   */
  | { kind: 'open'; reference: string; title: string; source?: 'image' | 'container' }
  /** The image or container is gone (removed or untagged away); `message` says so. */
  | { kind: 'gone'; message: string }
  | { kind: 'response'; id: number; result?: ImageLayersResult | LayerFilesResult | ContainerChangesView; error?: string }
  /** A container's changes, pushed: the whole list (`reset`), or what changed since `version - 1`. */
  | ({ kind: 'containerChanges'; reset: true } & ContainerChangesView & { version: number })
  | { kind: 'containerChanges'; reset: false; version: number; running: boolean; changed: ContainerFileChange[]; removed: string[] };
