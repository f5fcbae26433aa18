/**
 * Messages between the inspector page and the extension (LayerInspectorPanel). The page asks, the
 * extension forwards to the agent (`image/layers`, `image/layerFiles` for an image, `container/diff`
 * for a container) and answers by id; the extension also tells the page what to show, and again
 * whenever it changes.
 */
import type { ContainerChange, ImageLayersResult, LayerFilesParams, LayerFilesResult } from '../protocol';

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
  | { kind: 'response'; id: number; result?: ImageLayersResult | LayerFilesResult | ContainerChange[]; error?: string };
