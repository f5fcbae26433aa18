/**
 * The extension's one feed of containers' writable-layer changes, shared by the layer inspector
 * (a container's view) and Browse Files (open berth-container: files): one agent watch
 * (`container/changes` with a `watchToken`) per container however many views listen, ended when
 * the last one goes (`container/unwatchChanges`).
 *
 * Contract for listeners:
 * - `reset`: the whole list (first answer, and again after a reconnect or a missed notification);
 * - `delta`: entries new or different, and paths gone, with what each path was before;
 * - `gone`: the container was removed (the subscription stays inert);
 * - `error`: the agent refused the watch (a sentence for the user).
 * A container's start and exit (agent events) come as an empty delta with the new `running`.
 * Every reset and delta carries `version`, one more than the update before it, so a consumer that
 * forwards updates (the inspector to its page) can tell a missed one.
 * Notifications arriving before the watch's answer are held and applied after it, in `seq` order;
 * a gap in `seq` (never expected on one connection) re-watches. No polling: the agent pushes.
 */
import {
  ContainerChangesRequest,
  UnwatchContainerChangesRequest,
  type ContainerChangedParams,
  type ContainerChangesResult,
  type ContainerFileChange,
} from '../../protocol';
import type { AgentConnection } from '../../client/connection';
import { classify } from '../../client/errors';

export type FeedAgent = Pick<AgentConnection, 'state' | 'onDidChangeState' | 'onContainerChanged' | 'onEvent' | 'request'>;

/** The list as a listener sees it. */
export interface ChangesSnapshot {
  version: number;
  running: boolean;
  layers: ContainerChangesResult['ImageLayers'];
  /** By absolute path. */
  changes: ReadonlyMap<string, ContainerFileChange>;
}

export type ChangeUpdate =
  | { kind: 'reset'; snapshot: ChangesSnapshot }
  | {
      kind: 'delta';
      version: number;
      running: boolean;
      changed: ContainerFileChange[];
      removed: string[];
      before: ReadonlyMap<string, ContainerFileChange | undefined>;
    }
  | { kind: 'gone' }
  | { kind: 'error'; message: string };

export interface ChangeSubscription {
  /** The list now, once the first answer came. */
  snapshot(): ChangesSnapshot | undefined;
  dispose(): void;
}

interface Watch {
  id: string;
  listeners: Set<(u: ChangeUpdate) => void>;
  token?: string;
  /** Notifications that came before the watch's answer. */
  held?: ContainerChangedParams[];
  seq: number;
  snapshot?: ChangesSnapshot;
  changes: Map<string, ContainerFileChange>;
  gone: boolean;
}

let tokens = 0;

export class ContainerChangeFeed {
  private readonly watches = new Map<string, Watch>();
  private readonly byToken = new Map<string, Watch>();
  private readonly subscriptions: { dispose(): unknown }[] = [];

  constructor(private readonly agent: FeedAgent) {
    this.subscriptions.push(
      agent.onContainerChanged((n) => this.notified(n)),
      agent.onEvent((e) => {
        const w = e.Type === 'container' && (e.Action === 'start' || e.Action === 'die') ? this.watches.get(e.Actor.ID) : undefined;
        if (w?.snapshot && !w.gone) this.delta(w, [], [], new Map(), e.Action === 'start');
      }),
      // A new connection knows nothing of the old one's watches: watch again.
      agent.onDidChangeState((s) => {
        if (s.kind === 'connected') for (const w of this.watches.values()) if (!w.gone) void this.start(w);
      }),
    );
  }

  /** Listens to container `id`'s (full ID) changes; the first update is a reset (or an error). */
  subscribe(id: string, listener: (u: ChangeUpdate) => void): ChangeSubscription {
    let w = this.watches.get(id);
    const fresh = !w;
    if (!w) {
      w = { id, listeners: new Set(), seq: 0, changes: new Map(), gone: false };
      this.watches.set(id, w);
    }
    w.listeners.add(listener);
    const watch = w;
    if (fresh) void this.start(w);
    else if (w.snapshot) listener({ kind: 'reset', snapshot: w.snapshot });
    return {
      snapshot: () => watch.snapshot,
      dispose: () => {
        if (!watch.listeners.delete(listener) || watch.listeners.size > 0) return;
        this.watches.delete(watch.id);
        this.stopWatch(watch);
      },
    };
  }

  /** Containers with a watch now (for tests). */
  get watchedIds(): string[] {
    return [...this.watches.keys()];
  }

  dispose(): void {
    for (const s of this.subscriptions.splice(0)) s.dispose();
    for (const w of this.watches.values()) this.stopWatch(w);
    this.watches.clear();
  }

  private async start(w: Watch): Promise<void> {
    if (w.token) {
      // Restarted (a missed notification, a reconnect): the old watch ends (unknown to a new agent: harmless).
      this.byToken.delete(w.token);
      void this.unwatch(w.token);
    }
    const token = `changes-${process.pid}-${++tokens}`;
    w.token = token;
    w.held = [];
    this.byToken.set(token, w);
    let result: ContainerChangesResult;
    try {
      result = await this.agent.request(ContainerChangesRequest.type, { container: w.id, watchToken: token });
    } catch (err) {
      if (w.token !== token) return;
      this.byToken.delete(token);
      w.token = undefined;
      const f = classify(err);
      // Not connected: the reconnect starts the watch again.
      if (f.kind !== 'notConnected' && f.kind !== 'connectionLost') this.emit(w, { kind: 'error', message: f.message });
      return;
    }
    if (w.token !== token) {
      // Ended (or restarted) while the answer was on its way.
      if (!this.byToken.has(token)) void this.unwatch(token);
      return;
    }
    w.seq = result.Seq;
    w.changes = new Map(result.Changes.map((c) => [c.Path, c]));
    w.snapshot = { version: (w.snapshot?.version ?? 0) + 1, running: result.Running, layers: result.ImageLayers, changes: w.changes };
    this.emit(w, { kind: 'reset', snapshot: w.snapshot });
    const held = w.held ?? [];
    w.held = undefined;
    for (const n of held.sort((a, b) => a.seq - b.seq)) if (w.token === token) this.apply(w, n);
  }

  private notified(n: ContainerChangedParams): void {
    const w = typeof n?.token === 'string' ? this.byToken.get(n.token) : undefined;
    if (!w) return;
    if (w.held) w.held.push(n);
    else this.apply(w, n);
  }

  private apply(w: Watch, n: ContainerChangedParams): void {
    if (n.seq <= w.seq) return;
    if (n.seq !== w.seq + 1) {
      void this.start(w);
      return;
    }
    w.seq = n.seq;
    if (n.gone) {
      w.gone = true;
      if (w.token) this.byToken.delete(w.token);
      w.token = undefined;
      this.emit(w, { kind: 'gone' });
      return;
    }
    const before = new Map<string, ContainerFileChange | undefined>();
    const changed = Array.isArray(n.changed) ? n.changed : [];
    const removed = Array.isArray(n.removed) ? n.removed : [];
    for (const p of removed) {
      before.set(p, w.changes.get(p));
      w.changes.delete(p);
    }
    for (const c of changed) {
      before.set(c.Path, w.changes.get(c.Path));
      w.changes.set(c.Path, c);
    }
    this.delta(w, changed, removed, before, w.snapshot?.running ?? true);
  }

  private delta(
    w: Watch,
    changed: ContainerFileChange[],
    removed: string[],
    before: Map<string, ContainerFileChange | undefined>,
    running: boolean,
  ): void {
    const version = (w.snapshot?.version ?? 0) + 1;
    w.snapshot = { layers: w.snapshot?.layers ?? [], running, version, changes: w.changes };
    this.emit(w, { kind: 'delta', version, running, changed, removed, before });
  }

  private emit(w: Watch, u: ChangeUpdate): void {
    for (const l of [...w.listeners]) {
      try {
        l(u);
      } catch {
        // One view's failure must not starve the others.
      }
    }
  }

  private stopWatch(w: Watch): void {
    const token = w.token;
    w.token = undefined;
    if (!token) return;
    this.byToken.delete(token);
    void this.unwatch(token);
  }

  private async unwatch(token: string): Promise<void> {
    if (this.agent.state.kind !== 'connected') return;
    try {
      await this.agent.request(UnwatchContainerChangesRequest.type, { watchToken: token });
    } catch {
      // The connection went meanwhile: its watches went with it.
    }
  }
}

const feeds = new WeakMap<object, ContainerChangeFeed>();

/** The feed of an agent connection (one per connection, made on first use). */
export function changeFeedOf(agent: FeedAgent): ContainerChangeFeed {
  let f = feeds.get(agent);
  if (!f) feeds.set(agent, (f = new ContainerChangeFeed(agent)));
  return f;
}
