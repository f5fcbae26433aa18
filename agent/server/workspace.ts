/** The `workspace/*` requests (agent/workspace/: devcontainer.json read as the peer may). */
import { WorkspaceDownRequest, WorkspaceProgressNotification, WorkspaceStatusRequest, WorkspaceUpRequest } from '../../protocol';
import { BuildCache } from '../builder/cache';
import { workspaceDown, workspaceStatus, workspaceUp } from '../workspace/service';
import type { AgentConnection } from './connection';
import { serve } from './serve';

export function serveWorkspace(c: AgentConnection): void {
  const { images, containers, workspacePorts } = c.services;
  const services = { images, containers, buildCache: () => new BuildCache(images.store, c.log), log: c.log, ports: workspacePorts };
  serve(c, WorkspaceUpRequest, (p, token) =>
    c.withAbort(token, (signal) =>
      workspaceUp(
        services,
        { folder: p.folder, rebuild: p.rebuild === true, noCache: p.noCache === true, localEnv: p.localEnv },
        {
          peer: c.ctx.peer,
          signal,
          onEvent: p.progressToken
            ? (event) => c.notify(WorkspaceProgressNotification.type, { token: p.progressToken!, event })
            : undefined,
        },
      ),
    ),
  );
  serve(c, WorkspaceDownRequest, (p) => workspaceDown(services, { folder: p.folder, remove: p.remove === true, timeout: p.timeout }));
  serve(c, WorkspaceStatusRequest, (p) => workspaceStatus(services, { folder: p.folder }));
}
