/**
 * The agent's JSON-RPC edge: one AgentConnection per client connection (connection.ts: the state
 * it owns), its requests served by noun, each file registering its requests with `serve`
 * (serve.ts: params checked against the protocol's schemas, errors mapped). agent/main.ts calls
 * `openConnection` for each connection and disposes it when the connection closes.
 */
import type { MessageConnection } from 'vscode-jsonrpc';
import { serveArchives } from './archive';
import { serveAttach } from './attach';
import { serveBuild } from './build';
import { AgentConnection, type ConnectionContext, type Services } from './connection';
import { serveContainers } from './containers';
import { serveEvents } from './events';
import { serveFiles } from './files';
import { serveImages } from './images';
import { serveSystem } from './system';
import { serveVolumes } from './volumes';
import { serveWorkspace } from './workspace';

export type { ConnectionContext, Services } from './connection';

/** Serves every request on `rpc`; the answer ends everything the connection owns. */
export function openConnection(rpc: MessageConnection, services: Services, ctx: ConnectionContext): AgentConnection {
  const c = new AgentConnection(rpc, services, ctx);
  for (const serveNoun of [
    serveSystem,
    serveEvents,
    serveImages,
    serveContainers,
    serveAttach,
    serveArchives,
    serveFiles,
    serveVolumes,
    serveBuild,
    serveWorkspace,
  ])
    serveNoun(c);
  return c;
}
