/**
 * Pull progress, as Docker shows it. On a terminal: one line per layer
 * ("a1b2c3d4e5f6: Downloading [=====>     ] 12.3MB/52.1MB"), redrawn in place with ANSI cursor-up,
 * at most every `intervalMs`. Elsewhere (logs, CI): one line per layer each time its phase changes.
 */
import type { LayerProgress } from '../protocol';
import { humanSize, shortId } from '../client/format';

/**
 * One line's state: a pull's {@link LayerProgress}, or anything shaped like it (a push's blobs)
 * with its own phases, named by {@link ProgressOptions.label}.
 */
export interface ProgressItem {
  digest: string;
  phase: string;
  current: number;
  total: number;
  message?: string;
}

/** Words for a phase; phases in `barPhases` get a bar and sizes. */
export interface PhaseLabels {
  label: (item: ProgressItem) => string;
  barPhases: readonly string[];
}

export interface ProgressOptions {
  write: (s: string) => void;
  /** How phases read (default: a pull's, as Docker words them). */
  labels?: PhaseLabels;
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

const PULL_LABELS: PhaseLabels = {
  label: (l) => LABELS[l.phase as LayerProgress['phase']] ?? l.phase,
  barPhases: ['downloading', 'retrying'],
};

const BAR_WIDTH = 50;

/** "[=====>     ]" for `current` of `total`, `width` cells inside the brackets. */
export function progressBar(current: number, total: number, width = BAR_WIDTH): string {
  const filled = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  const body =
    filled >= width ? '='.repeat(width) : filled > 0 ? '='.repeat(filled - 1) + '>' + ' '.repeat(width - filled) : ' '.repeat(width);
  return `[${body}]`;
}

/** The text of one layer's line (without the newline); `bar` false for logs. */
export function layerLine(l: ProgressItem, columns?: number, bar = true, labels: PhaseLabels = PULL_LABELS): string {
  const head = `${shortId(l.digest)}: ${labels.label(l)}${l.phase === 'retrying' && l.message ? ` (${l.message})` : ''}`;
  if (!labels.barPhases.includes(l.phase)) return clip(head, columns);
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
  private readonly layers = new Map<string, ProgressItem>();
  /** Non-TTY: the last phase (and message) printed per layer. */
  private readonly printed = new Map<string, string>();
  private drawnLines = 0;
  private lastDraw = 0;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(private readonly opts: ProgressOptions) {}

  update(layer: ProgressItem): void {
    if (this.finished) return;
    this.layers.set(layer.digest, { ...layer });
    if (!this.opts.isTTY) {
      const key = `${layer.phase}\0${layer.message ?? ''}`;
      if (this.printed.get(layer.digest) !== key) {
        this.printed.set(layer.digest, key);
        this.opts.write(layerLine(layer, undefined, false, this.opts.labels) + '\n');
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
    for (const l of this.layers.values()) out += `\x1b[2K${layerLine(l, this.opts.columns, true, this.opts.labels)}\n`;
    this.drawnLines = this.layers.size;
    this.opts.write(out);
  }
}
