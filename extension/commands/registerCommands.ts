/**
 * Every command, by id. Ids are `berth.<noun>.<verb>`; each is a factory taking the Context.
 * Containers and volumes add their nouns here when the agent serves them.
 */
import * as vscode from 'vscode';
import type { Context } from '../context';
import { howToStartAgent } from './agent/howToStartAgent';
import { reconnectAgent } from './agent/reconnectAgent';
import { showAgentOutput } from './agent/showAgentOutput';
import { copyImageId } from './images/copyImageId';
import { inspectImage } from './images/inspectImage';
import { loadImage } from './images/loadImage';
import { pullImage } from './images/pullImage';
import { refreshImages } from './images/refreshImages';
import { removeImage } from './images/removeImage';
import { saveImage } from './images/saveImage';
import { showImageHistory } from './images/showImageHistory';
import { tagImage } from './images/tagImage';

type Factory = (ctx: Context) => (...args: any[]) => unknown;

const COMMANDS: Record<string, Factory> = {
  'berth.image.pull': pullImage,
  'berth.image.inspect': inspectImage,
  'berth.image.history': showImageHistory,
  'berth.image.tag': tagImage,
  'berth.image.remove': removeImage,
  'berth.image.save': saveImage,
  'berth.image.load': loadImage,
  'berth.image.copyId': copyImageId,
  'berth.image.refresh': refreshImages,
  'berth.agent.reconnect': reconnectAgent,
  'berth.agent.showOutput': showAgentOutput,
  'berth.agent.howToStart': howToStartAgent,
};

export function registerCommands(ctx: Context): void {
  for (const [id, factory] of Object.entries(COMMANDS)) ctx.push(vscode.commands.registerCommand(id, factory(ctx)));
}
