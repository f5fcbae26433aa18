/**
 * The layer inspector's webview panel: one per image or container, revealed again when reopened.
 * It owns its disposables, builds the page with a fresh nonce, forwards the page's requests to the
 * agent (`image/layers`, `image/layerFiles` for an image; `container/diff` for a container), and
 * follows its subject through agent events: a moved tag reloads the panel with the new image, and a
 * removed image or container says so.
 *
 * A container's panel is live: while it is open it subscribes to the container's change feed
 * (changeFeed.ts: the agent watches the writable layer and pushes `container/changed`), and posts
 * each update to the page as it comes (a whole list, or a delta the page applies in place,
 * keeping selection, expansion and scroll). The page's `changes` request (its first load, Refresh)
 * is answered from the feed's current list. Closing the panel ends the subscription.
 */
import * as vscode from 'vscode';
import { ContainerChangesRequest, ImageLayersRequest, InspectImageRequest, LayerFilesRequest, type BerthEvent } from '../../protocol';
import type { Context } from '../context';
import { classify } from '../../client/errors';
import type { ContainerChangesView, HostMessage, PageMessage } from '../../webview/messages';
import { changeFeedOf, type ChangesSnapshot, type ChangeSubscription, type ChangeUpdate } from './changeFeed';
import { inspectorHtml, newNonce } from './html';

export const VIEW_TYPE = 'berth.layerInspector';

type Source = 'image' | 'container';

export class LayerInspectorPanel implements vscode.Disposable {
  /** Open panels by `image:<id>` or `container:<id>`. */
  private static readonly open = new Map<string, LayerInspectorPanel>();
  private readonly disposables: vscode.Disposable[] = [];
  private ready = false;
  /** A container's change feed subscription, while the panel is open. */
  private changes?: ChangeSubscription;

  /** Opens (or reveals) the inspector for `reference` (a tag or image ID), whose image ID is `imageId`. */
  static show(ctx: Context, reference: string, imageId: string, title: string): LayerInspectorPanel {
    return LayerInspectorPanel.create(ctx, 'image', reference, imageId, title, vscode.l10n.t('Layers: {0}', title));
  }

  /** Opens (or reveals) the inspector of the writable layer of the container whose full ID is `id`. */
  static showContainer(ctx: Context, id: string, name: string): LayerInspectorPanel {
    return LayerInspectorPanel.create(ctx, 'container', id, id, name, vscode.l10n.t('Changes: {0}', name));
  }

  private static create(ctx: Context, source: Source, reference: string, id: string, title: string, tabTitle: string): LayerInspectorPanel {
    const existing = LayerInspectorPanel.open.get(`${source}:${id}`);
    if (existing) {
      existing.panel.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, tabTitle, vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(ctx.extension.extensionUri, 'dist')],
    });
    const p = new LayerInspectorPanel(ctx, panel, source, reference, id, title);
    LayerInspectorPanel.open.set(p.key, p);
    ctx.push(p);
    return p;
  }

  private constructor(
    private readonly ctx: Context,
    readonly panel: vscode.WebviewPanel,
    private readonly source: Source,
    private reference: string,
    /** The image ID, or the container's full ID. */
    private imageId: string,
    private title: string,
  ) {
    const dist = vscode.Uri.joinPath(ctx.extension.extensionUri, 'dist');
    panel.webview.html = inspectorHtml({
      script: panel.webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js')).toString(),
      style: panel.webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.css')).toString(),
      cspSource: panel.webview.cspSource,
      nonce: newNonce(),
      title,
    });
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((m: PageMessage) => void this.received(m)),
      ctx.agent.onEvent((e) => (source === 'container' ? this.containerEvent(e) : this.event(e))),
    );
    if (source === 'container') {
      const sub = changeFeedOf(ctx.agent).subscribe(imageId, (u) => this.changed(u));
      this.changes = sub;
      this.disposables.push({ dispose: () => sub.dispose() });
    }
  }

  /** A feed update: forwarded to the page once it listens (it asks for the whole list when ready). */
  private changed(u: ChangeUpdate): void {
    if (!this.ready) return;
    if (u.kind === 'reset') this.post({ kind: 'containerChanges', reset: true, ...view(u.snapshot), version: u.snapshot.version });
    else if (u.kind === 'delta')
      this.post({ kind: 'containerChanges', reset: false, version: u.version, running: u.running, changed: u.changed, removed: u.removed });
    else if (u.kind === 'error') this.post({ kind: 'gone', message: u.message });
  }

  private get key(): string {
    return `${this.source}:${this.imageId}`;
  }

  /** Tells the page (again) what to show; it reloads, keeping what it can. */
  private reopen(): void {
    if (this.ready) this.post({ kind: 'open', reference: this.imageId, title: this.title, source: this.source });
  }

  private post(m: HostMessage): void {
    void this.panel.webview.postMessage(m);
  }

  private async received(m: PageMessage): Promise<void> {
    if (m.kind === 'ready') {
      this.ready = true;
      this.reopen();
      return;
    }
    try {
      const current = this.changes?.snapshot();
      const result =
        m.method === 'changes'
          ? current
            ? view(current)
            : oneOff(await this.ctx.agent.request(ContainerChangesRequest.type, { container: this.imageId }))
          : m.method === 'layers'
            ? await this.ctx.agent.request(ImageLayersRequest.type, { reference: this.imageId })
            : await this.ctx.agent.request(LayerFilesRequest.type, { ...m.params, reference: this.imageId });
      this.post({ kind: 'response', id: m.id, result });
    } catch (err) {
      const f = classify(err);
      this.ctx.output.error(`layer inspector: ${f.message}`);
      this.post({ kind: 'response', id: m.id, error: f.message });
    }
  }

  /** Our container's events: that it is gone (its changes come from the feed). */
  private containerEvent(e: BerthEvent): void {
    if (e.Type !== 'container' || e.Actor.ID !== this.imageId) return;
    if (e.Action === 'destroy') this.post({ kind: 'gone', message: vscode.l10n.t('The container {0} was removed.', this.title) });
  }

  /** Image events about our image or tag: find out what the reference names now. */
  private event(e: BerthEvent): void {
    if (e.Type !== 'image' || !['tag', 'untag', 'delete', 'pull', 'load'].includes(e.Action)) return;
    if (e.Actor.ID !== this.imageId && !this.reference.endsWith(e.Actor.Attributes.name ?? '\0')) return;
    void this.resolve();
  }

  private async resolve(): Promise<void> {
    for (const ref of [this.reference, this.imageId]) {
      try {
        const img = await this.ctx.agent.request(InspectImageRequest.type, { reference: ref });
        if (img.Id !== this.imageId) {
          if (LayerInspectorPanel.open.get(this.key) === this) LayerInspectorPanel.open.delete(this.key);
          this.imageId = img.Id;
          LayerInspectorPanel.open.set(this.key, this);
        }
        if (ref !== this.reference) this.reference = ref;
        this.reopen();
        return;
      } catch {
        // Not there any more under this name: try the next.
      }
    }
    this.post({ kind: 'gone', message: vscode.l10n.t('The image {0} was removed.', this.title) });
  }

  dispose(): void {
    if (LayerInspectorPanel.open.get(this.key) === this) LayerInspectorPanel.open.delete(this.key);
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

function view(s: ChangesSnapshot): ContainerChangesView {
  return { version: s.version, running: s.running, layers: s.layers, changes: [...s.changes.values()] };
}

/** A one-off answer (the feed's first list is still on its way): no version, the page waits for the pushed list. */
function oneOff(r: {
  Running: boolean;
  ImageLayers: ContainerChangesView['layers'];
  Changes: ContainerChangesView['changes'];
}): ContainerChangesView {
  return { running: r.Running, layers: r.ImageLayers, changes: r.Changes };
}
