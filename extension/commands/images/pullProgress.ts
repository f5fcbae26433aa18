/**
 * Per-layer pull progress folded into what one VS Code progress notification can show: a
 * percentage of the bytes to download and counts of layers. Plain TypeScript; the command words it.
 */
import type { LayerProgress } from '../../../protocol';

export interface PullSummary {
  /** Layers known so far (the manifest's). */
  layers: number;
  /** Layers stored (done or already present). */
  doneLayers: number;
  /** Layers receiving bytes now. */
  downloading: number;
  /** Bytes received and expected, over the layers that need downloading. */
  current: number;
  total: number;
  /** 0..100 */
  percent: number;
  /** A layer is resuming after a dropped connection: its message. */
  retrying?: string;
}

export class PullProgressTracker {
  private readonly layers = new Map<string, LayerProgress>();
  private reported = 0;

  update(layer: LayerProgress): void {
    this.layers.set(layer.digest, layer);
  }

  summary(): PullSummary {
    let current = 0;
    let total = 0;
    let doneLayers = 0;
    let downloading = 0;
    let retrying: string | undefined;
    for (const l of this.layers.values()) {
      if (l.phase === 'exists') {
        doneLayers++;
        continue;
      }
      total += l.total;
      current += l.phase === 'done' || l.phase === 'finishing' ? l.total : Math.min(l.current, l.total);
      if (l.phase === 'done') doneLayers++;
      if (l.phase === 'downloading') downloading++;
      if (l.phase === 'retrying') retrying = l.message ?? 'retrying';
    }
    const layers = this.layers.size;
    const percent = total > 0 ? Math.min(100, (current / total) * 100) : layers > 0 && doneLayers === layers ? 100 : 0;
    return { layers, doneLayers, downloading, current, total, percent, retrying };
  }

  /** The increment since the last call, for `Progress.report({ increment })` (which adds them up). */
  increment(): number {
    const p = this.summary().percent;
    const inc = Math.max(0, p - this.reported);
    this.reported = Math.max(this.reported, p);
    return inc;
  }
}
