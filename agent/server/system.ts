/** The agent itself: `berth/version`, and `store/check` (agent/store/check.ts). */
import { API_VERSION, StoreCheckRequest, VersionRequest } from '../../protocol';
import { hostPlatform } from '../registry/platform';
import { checkStore } from '../store/check';
import type { AgentConnection } from './connection';
import { serve } from './serve';

declare const BERTH_VERSION: string;

/** The agent's version: set by the bundler, "0.0.0-dev" when run from source. */
export const agentVersion = () => (typeof BERTH_VERSION !== 'undefined' ? BERTH_VERSION : '0.0.0-dev');

export function serveSystem(c: AgentConnection): void {
  serve(c, VersionRequest, () => ({
    Version: agentVersion(),
    ApiVersion: API_VERSION,
    Os: process.platform,
    Arch: hostPlatform().architecture,
    Pid: process.pid,
    Root: c.ctx.root,
    Socket: c.ctx.socket,
  }));
  serve(c, StoreCheckRequest, (p) =>
    // tmp/ entries named before this process started are an earlier run's leftovers.
    checkStore(c.services.images.store, { repair: p.repair === true, startedAt: Date.now() - process.uptime() * 1000 }),
  );
}
