/**
 * Read-only documents the agent's answers are shown in: `berth-inspect://image/<ref>.json` (the
 * `image/inspect` JSON), `berth-inspect://container/<name>.json` (`container/inspect`) and
 * `berth-inspect://history/<ref>.txt` (the build steps as a table),
 * `berth-inspect://changes/<container>.txt` (`container/diff`: `A /path`, `C /path`, `D /path`) and
 * `berth-inspect://volume/<name>.json` (`volume/inspect`).
 * Content providers make read-only editors; open documents follow the events of their kind.
 */
import * as vscode from 'vscode';
import { ellipsis, humanSize, shortId, table } from '../../client/format';
import {
  ContainerDiffRequest,
  ImageHistoryRequest,
  InspectContainerRequest,
  InspectImageRequest,
  InspectVolumeRequest,
  type ContainerChange,
  type HistoryEntry,
} from '../../protocol';
import type { AgentConnection } from '../../client/connection';
import { ageText } from '../tree/images/ImageTreeItem';

export const INSPECT_SCHEME = 'berth-inspect';

export type DocumentKind = 'image' | 'container' | 'history' | 'changes' | 'volume';

/** Documents about a container follow container events; the others image events. */
const CONTAINER_KINDS: readonly DocumentKind[] = ['container', 'changes'];

export function documentUri(kind: DocumentKind, reference: string): vscode.Uri {
  return vscode.Uri.from({
    scheme: INSPECT_SCHEME,
    authority: kind,
    path: `/${reference}.${kind === 'history' || kind === 'changes' ? 'txt' : 'json'}`,
  });
}

export function parseDocumentUri(uri: vscode.Uri): { kind: DocumentKind; reference: string } {
  const kind = uri.authority as DocumentKind;
  const reference = uri.path.replace(/^\//, '').replace(/\.(json|txt)$/, '');
  return { kind, reference };
}

export class ReadonlyDocumentProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly agent: Pick<AgentConnection, 'request' | 'onEvent'>) {
    // Image events refresh image documents, container events container documents.
    this.subscription = agent.onEvent((e) => {
      for (const doc of vscode.workspace.textDocuments) {
        if (doc.uri.scheme !== INSPECT_SCHEME) continue;
        const kind = parseDocumentUri(doc.uri).kind;
        const follows =
          kind === 'volume' ? e.Type === 'volume' : CONTAINER_KINDS.includes(kind) === (e.Type === 'container') && e.Type !== 'volume';
        if (follows) this.changed.fire(doc.uri);
      }
    });
  }

  async provideTextDocumentContent(uri: vscode.Uri, token: vscode.CancellationToken): Promise<string> {
    const { kind, reference } = parseDocumentUri(uri);
    if (kind === 'image') return JSON.stringify(await this.agent.request(InspectImageRequest.type, { reference }, token), null, 2) + '\n';
    if (kind === 'container')
      return JSON.stringify(await this.agent.request(InspectContainerRequest.type, { container: reference }, token), null, 2) + '\n';
    if (kind === 'volume')
      return JSON.stringify(await this.agent.request(InspectVolumeRequest.type, { name: reference }, token), null, 2) + '\n';
    if (kind === 'changes')
      return changesList(await this.agent.request(ContainerDiffRequest.type, { container: reference }, token), reference);
    return historyTable(await this.agent.request(ImageHistoryRequest.type, { reference }, token), reference);
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

function historyTable(steps: HistoryEntry[], reference: string): string {
  const now = Date.now();
  const rows = steps.map((s) => [
    s.Id === '<missing>' ? s.Id : shortId(s.Id),
    ageText(s.Created, now),
    ellipsis(s.CreatedBy.replace(/\s+/g, ' '), 120),
    humanSize(s.Size),
    s.Comment,
  ]);
  const headers = [
    vscode.l10n.t('IMAGE'),
    vscode.l10n.t('CREATED'),
    vscode.l10n.t('CREATED BY'),
    vscode.l10n.t('SIZE'),
    vscode.l10n.t('COMMENT'),
  ];
  return `${vscode.l10n.t('History of {0}, newest step first', reference)}\n\n${table(headers, rows)}`;
}

const CHANGE_LETTERS = ['C', 'A', 'D'] as const;

/** `docker diff`'s listing, under a line that says what it is. */
export function changesList(changes: ContainerChange[], container: string): string {
  if (changes.length === 0) return `${vscode.l10n.t("No changes: {0}'s files are as in its image.", container)}\n`;
  const head =
    changes.length === 1
      ? vscode.l10n.t('1 change in the writable layer of {0} (A added, C changed, D deleted)', container)
      : vscode.l10n.t('{0} changes in the writable layer of {1} (A added, C changed, D deleted)', changes.length, container);
  return `${head}\n\n${changes.map((c) => `${CHANGE_LETTERS[c.Kind] ?? '?'} ${c.Path}`).join('\n')}\n`;
}
