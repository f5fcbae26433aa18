/** Creates every tree view of the Berth container: Containers, Images and Volumes. */
import * as vscode from 'vscode';
import type { AgentConnection } from '../../client/connection';
import { ContainersTreeProvider } from './containers/ContainersTreeProvider';
import type { ContainersNode, GroupBy } from './containers/model';
import { ImagesTreeProvider } from './images/ImagesTreeProvider';
import type { ImageNode } from './images/model';
import { VolumesTreeProvider } from './volumes/VolumesTreeProvider';
import type { VolumeNode } from './volumes/model';

export const IMAGES_VIEW = 'berth.images';
export const CONTAINERS_VIEW = 'berth.containers';
export const VOLUMES_VIEW = 'berth.volumes';
/** workspaceState key and context key of the Containers view's grouping. */
export const GROUP_BY_KEY = 'berth.containers.groupBy';

export interface Trees {
  images: ImagesTreeProvider;
  imagesView: vscode.TreeView<ImageNode>;
  containers: ContainersTreeProvider;
  containersView: vscode.TreeView<ContainersNode>;
  volumes: VolumesTreeProvider;
  volumesView: vscode.TreeView<VolumeNode>;
  /** Groups the Containers view by state or image, and remembers it for this workspace. */
  setGroupBy(g: GroupBy): Promise<void>;
}

/**
 * What registering the trees needs of the extension's Context (extension/context.ts, which calls
 * registerTrees while it is being built; declared here so this file does not import it back).
 */
export interface TreeHost {
  readonly agent: AgentConnection;
  readonly extension: vscode.ExtensionContext;
  push<T extends vscode.Disposable>(d: T): T;
  reportError(err: unknown): void;
}

export function registerTrees(ctx: TreeHost): Trees {
  const images = ctx.push(new ImagesTreeProvider(ctx.agent));
  const imagesView = ctx.push(
    vscode.window.createTreeView(IMAGES_VIEW, { treeDataProvider: images, canSelectMany: true, showCollapseAll: true }),
  );
  const showStaleness = () => {
    imagesView.message =
      images.stale && images.images().length > 0
        ? vscode.l10n.t('Not connected to the Berth agent: showing the images it had when the connection was lost.')
        : undefined;
  };
  ctx.push(images.onDidChangeTreeData(showStaleness));
  ctx.push(images.onDidFail((err) => ctx.reportError(err)));
  showStaleness();

  const stored = ctx.extension.workspaceState.get<GroupBy>(GROUP_BY_KEY);
  const groupBy: GroupBy = stored === 'image' ? 'image' : 'state';
  void vscode.commands.executeCommand('setContext', GROUP_BY_KEY, groupBy);
  const containers = ctx.push(new ContainersTreeProvider(ctx.agent, groupBy));
  const containersView = ctx.push(
    vscode.window.createTreeView(CONTAINERS_VIEW, { treeDataProvider: containers, canSelectMany: true, showCollapseAll: true }),
  );
  const showContainersStaleness = () => {
    containersView.message =
      containers.stale && containers.containers().length > 0
        ? vscode.l10n.t('Not connected to the Berth agent: showing the containers it had when the connection was lost.')
        : undefined;
  };
  ctx.push(containers.onDidChangeTreeData(showContainersStaleness));
  ctx.push(containers.onDidFail((err) => ctx.reportError(err)));
  showContainersStaleness();

  const setGroupBy = async (g: GroupBy) => {
    containers.groupBy = g;
    await ctx.extension.workspaceState.update(GROUP_BY_KEY, g);
    await vscode.commands.executeCommand('setContext', GROUP_BY_KEY, g);
  };
  const volumes = ctx.push(new VolumesTreeProvider(ctx.agent));
  const volumesView = ctx.push(vscode.window.createTreeView(VOLUMES_VIEW, { treeDataProvider: volumes, canSelectMany: true }));
  const showVolumesStaleness = () => {
    volumesView.message =
      volumes.stale && volumes.volumes().length > 0
        ? vscode.l10n.t('Not connected to the Berth agent: showing the volumes it had when the connection was lost.')
        : undefined;
  };
  ctx.push(volumes.onDidChangeTreeData(showVolumesStaleness));
  ctx.push(volumes.onDidFail((err) => ctx.reportError(err)));
  showVolumesStaleness();

  return { images, imagesView, containers, containersView, volumes, volumesView, setGroupBy };
}
