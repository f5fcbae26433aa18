/**
 * Every command, by id. Ids are `berth.<noun>.<verb>`; each is a factory taking the Context.
 */
import * as vscode from 'vscode';
import type { Context } from '../context';
import { howToStartAgent } from './agent/howToStartAgent';
import { reconnectAgent } from './agent/reconnectAgent';
import { showAgentOutput } from './agent/showAgentOutput';
import { attachShell } from './containers/attachShell';
import { commitContainer } from './containers/commitContainer';
import { copyContainerId } from './containers/copyContainerId';
import { inspectContainer } from './containers/inspectContainer';
import { killContainer } from './containers/killContainer';
import { groupContainersByImage, groupContainersByState, refreshContainers } from './containers/refreshContainers';
import { pruneContainers } from './containers/pruneContainers';
import { removeContainer } from './containers/removeContainer';
import { restartContainer } from './containers/restartContainer';
import { showContainerChanges } from './containers/showChanges';
import { showContainerLogs } from './containers/showContainerLogs';
import { startContainer } from './containers/startContainer';
import { stopContainer } from './containers/stopContainer';
import { copyImageId } from './images/copyImageId';
import { inspectImage } from './images/inspectImage';
import { loadImage } from './images/loadImage';
import { buildImage } from './images/buildImage';
import { runArchive } from './images/runArchive';
import { pruneImages } from './images/pruneImages';
import { pullImage } from './images/pullImage';
import { refreshImages } from './images/refreshImages';
import { removeImage } from './images/removeImage';
import { runImage } from './images/runImage';
import { saveImage } from './images/saveImage';
import { showImageHistory } from './images/showImageHistory';
import { openContainerLayerInspector, openLayerInspector } from '../inspector/openLayerInspector';
import { tagImage } from './images/tagImage';
import { browseContainerFiles } from './containers/browseContainerFiles';
import { compareWithImage } from './containers/compareWithImage';
import { browseImageFiles } from './images/browseImageFiles';
import { runInteractive } from './images/runInteractive';
import { inspectVolume } from './volumes/inspectVolume';
import { pruneVolumes } from './volumes/pruneVolumes';
import { refreshVolumes } from './volumes/refreshVolumes';
import { removeVolume } from './volumes/removeVolume';

// biome-ignore lint/suspicious/noExplicitAny: each command types the arguments VS Code passes it
type Factory = (ctx: Context) => (...args: any[]) => unknown;

const COMMANDS: Record<string, Factory> = {
  'berth.image.pull': pullImage,
  'berth.image.inspect': inspectImage,
  'berth.image.history': showImageHistory,
  'berth.image.inspectLayers': openLayerInspector,
  'berth.image.tag': tagImage,
  'berth.image.remove': removeImage,
  'berth.image.save': saveImage,
  'berth.image.load': loadImage,
  'berth.image.build': buildImage,
  'berth.image.runArchive': runArchive,
  'berth.image.copyId': copyImageId,
  'berth.image.refresh': refreshImages,
  'berth.image.run': runImage,
  'berth.container.start': startContainer,
  'berth.container.stop': stopContainer,
  'berth.container.restart': restartContainer,
  'berth.container.kill': killContainer,
  'berth.container.remove': removeContainer,
  'berth.container.logs': showContainerLogs,
  'berth.container.inspect': inspectContainer,
  'berth.container.copyId': copyContainerId,
  'berth.container.refresh': refreshContainers,
  'berth.container.groupByImage': groupContainersByImage,
  'berth.container.groupByState': groupContainersByState,
  'berth.container.attachShell': attachShell,
  'berth.container.diff': showContainerChanges,
  'berth.container.inspectLayer': openContainerLayerInspector,
  'berth.container.commit': commitContainer,
  'berth.container.prune': pruneContainers,
  'berth.image.prune': pruneImages,
  'berth.container.browseFiles': browseContainerFiles,
  'berth.container.compareWithImage': compareWithImage,
  'berth.image.browseFiles': browseImageFiles,
  'berth.image.runInteractive': runInteractive,
  'berth.volume.inspect': inspectVolume,
  'berth.volume.remove': removeVolume,
  'berth.volume.prune': pruneVolumes,
  'berth.volume.refresh': refreshVolumes,
  'berth.agent.reconnect': reconnectAgent,
  'berth.agent.showOutput': showAgentOutput,
  'berth.agent.howToStart': howToStartAgent,
};

export function registerCommands(ctx: Context): void {
  for (const [id, factory] of Object.entries(COMMANDS)) ctx.push(vscode.commands.registerCommand(id, factory(ctx)));
}
