/**
 * The layer inspector's webview panel: one per image, revealed again when reopened. It owns its
 * disposables, builds the page with a fresh nonce, forwards the page's requests to the agent
 * (`image/layers`, `image/layerFiles`) for the image it shows, and follows the image through agent
 * events: a moved tag reloads the panel with the new image, a removed image says so.
 */
import * as vscode from 'vscode';
import { ImageLayersRequest, InspectImageRequest, LayerFilesRequest, type BerthEvent } from '../../protocol';
import type { Context } from '../context';
import { classify } from '../agent/errors';
import type { HostMessage, PageMessage } from '../../webview/messages';
import { inspectorHtml, newNonce } from './html';

export const VIEW_TYPE = 'berth.layerInspector';

export class LayerInspectorPanel implements vscode.Disposable {
  private static readonly open = new Map<string, LayerInspectorPanel>();
  private readonly disposables: vscode.Disposable[] = [];
  private ready = false;

  /** Opens (or reveals) the inspector for `reference` (a tag or image ID), whose image ID is `imageId`. */
  static show(ctx: Context, reference: string, imageId: string, title: string): LayerInspectorPanel {
    const existing = LayerInspectorPanel.open.get(imageId);
    if (existing) {
      existing.panel.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, vscode.l10n.t('Layers: {0}', title), vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(ctx.extension.extensionUri, 'dist')],
    });
    const p = new LayerInspectorPanel(ctx, panel, reference, imageId, title);
    LayerInspectorPanel.open.set(imageId, p);
    ctx.push(p);
    return p;
  }

  private constructor(
    private readonly ctx: Context,
    readonly panel: vscode.WebviewPanel,
    private reference: string,
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
      ctx.agent.onEvent((e) => this.event(e)),
    );
  }

  private post(m: HostMessage): void {
    void this.panel.webview.postMessage(m);
  }

  private async received(m: PageMessage): Promise<void> {
    if (m.kind === 'ready') {
      this.ready = true;
      this.post({ kind: 'open', reference: this.imageId, title: this.title });
      return;
    }
    try {
      const result =
        m.method === 'layers'
          ? await this.ctx.agent.request(ImageLayersRequest.type, { reference: this.imageId })
          : await this.ctx.agent.request(LayerFilesRequest.type, { ...m.params, reference: this.imageId });
      this.post({ kind: 'response', id: m.id, result });
    } catch (err) {
      const f = classify(err);
      this.ctx.output.error(`layer inspector: ${f.message}`);
      this.post({ kind: 'response', id: m.id, error: f.message });
    }
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
          LayerInspectorPanel.open.delete(this.imageId);
          this.imageId = img.Id;
          LayerInspectorPanel.open.set(this.imageId, this);
        }
        if (ref !== this.reference) this.reference = ref;
        if (this.ready) this.post({ kind: 'open', reference: this.imageId, title: this.title });
        return;
      } catch {
        // Not there any more under this name: try the next.
      }
    }
    this.post({ kind: 'gone', message: vscode.l10n.t('The image {0} was removed.', this.title) });
  }

  dispose(): void {
    if (LayerInspectorPanel.open.get(this.imageId) === this) LayerInspectorPanel.open.delete(this.imageId);
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}
