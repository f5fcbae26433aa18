/**
 * Pull progress, as Docker shows it. On a terminal: one line per layer
 * ("a1b2c3d4e5f6: Downloading [=====>     ] 12.3MB/52.1MB"), redrawn in place with ANSI cursor-up,
 * at most every `intervalMs`. Elsewhere (logs, CI): one line per layer each time its phase changes.
 */
import type { LayerProgress } from '../protocol';
import { humanSize, shortId } from './format';

export interface ProgressOptions {
  write: (s: string) => void;
  isTTY: boolean;
  /** Terminal width; lines are kept shorter so they never wrap (wrapping breaks cursor-up). */
  columns?: number;
  /** Minimum time between redraws on a terminal; default 100 ms. */
  intervalMs?: number;
}

const LABELS: Record<LayerProgress['phase'], string> = {
  waiting: 'Waiting',
  exists: 'Already exists',
  downloading: 'Downloading',
  retrying: 'Retrying',
  finishing: 'Finishing',
  done: 'Pull complete',
};

const BAR_WIDTH = 50;

/** "[=====>     ]" for `current` of `total`, `width` cells inside the brackets. */
export function progressBar(current: number, total: number, width = BAR_WIDTH): string {
  const filled = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  const body = filled >= width ? '='.repeat(width) : filled > 0 ? '='.repeat(filled - 1) + '>' + ' '.repeat(width - filled) : ' '.repeat(width);
  return `[${body}]`;
}

/** The text of one layer's line (without the newline); `bar` false for logs. */
export function layerLine(l: LayerProgress, columns?: number, bar = true): string {
  const head = `${shortId(l.digest)}: ${LABELS[l.phase]}${l.phase === 'retrying' && l.message ? ` (${l.message})` : ''}`;
  if (l.phase !== 'downloading' && l.phase !== 'retrying') return clip(head, columns);
  const sizes = l.total > 0 ? `${humanSize(l.current)}/${humanSize(l.total)}` : humanSize(l.current);
  let width = BAR_WIDTH;
  if (columns) width = Math.min(BAR_WIDTH, columns - 1 - head.length - sizes.length - 4);
  if (!bar || l.total <= 0 || width < 10) return clip(`${head} ${sizes}`, columns);
  return `${head} ${progressBar(l.current, l.total, width)} ${sizes}`;
}

function clip(s: string, columns?: number): string {
  return columns && s.length > columns - 1 ? s.slice(0, Math.max(0, columns - 1)) : s;
}

export class PullProgressRenderer {
  private readonly layers = new Map<string, LayerProgress>();
  /** Non-TTY: the last phase (and message) printed per layer. */
  private readonly printed = new Map<string, string>();
  private drawnLines = 0;
  private lastDraw = 0;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(private readonly opts: ProgressOptions) {}

  update(layer: LayerProgress): void {
    if (this.finished) return;
    this.layers.set(layer.digest, { ...layer });
    if (!this.opts.isTTY) {
      const key = `${layer.phase}\0${layer.message ?? ''}`;
      if (this.printed.get(layer.digest) !== key) {
        this.printed.set(layer.digest, key);
        this.opts.write(layerLine(layer, undefined, false) + '\n');
      }
      return;
    }
    if (this.timer) return;
    const interval = this.opts.intervalMs ?? 100;
    const wait = this.lastDraw + interval - Date.now();
    if (wait <= 0) this.draw();
    else {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.draw();
      }, wait);
      this.timer.unref();
    }
  }

  /** Draws the final state (on a terminal) and stops; later updates are ignored. */
  finish(): void {
    if (this.finished) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.opts.isTTY && this.layers.size > 0) this.draw();
    this.finished = true;
  }

  private draw(): void {
    this.lastDraw = Date.now();
    let out = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
    for (const l of this.layers.values()) out += `\x1b[2K${layerLine(l, this.opts.columns)}\n`;
    this.drawnLines = this.layers.size;
    this.opts.write(out);
  }
}
