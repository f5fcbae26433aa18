/**
 * Messages between the inspector page and the extension (LayerInspectorPanel). The page asks, the
 * extension forwards to the agent (`image/layers`, `image/layerFiles`) and answers by id; the
 * extension also tells the page which image to show, and again whenever that image changes.
 */
import type { ImageLayersResult, LayerFilesParams, LayerFilesResult } from '../protocol';

export type PageRequest =
  | { kind: 'request'; id: number; method: 'layers' }
  | { kind: 'request'; id: number; method: 'files'; params: Omit<LayerFilesParams, 'reference'> };

/** Page -> extension. `ready` once the page listens. */
export type PageMessage = { kind: 'ready' } | PageRequest;

/** Extension -> page. */
export type HostMessage =
  /** Show (or reload) this image; `title` is how the user knows it. */
  | { kind: 'open'; reference: string; title: string }
  /** The image is gone (removed or untagged away); `message` says so. */
  | { kind: 'gone'; message: string }
  | { kind: 'response'; id: number; result?: ImageLayersResult | LayerFilesResult; error?: string };
