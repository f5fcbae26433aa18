/** The agent itself: `berth/version`, `system/info`, and `store/check` (agent/store/check.ts). */
import { API_VERSION, StoreCheckRequest, SystemInfoRequest, VersionRequest } from '../../protocol';
import { hostPlatform } from '../oci/platform';
import { presentSystemInfo } from '../presenters/system';
import { checkStore } from '../store/check';
import { agentVersion, systemFacts } from '../system/info';
import type { AgentConnection } from './connection';
import { serve } from './serve';

export { agentVersion } from '../system/info';

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
  serve(c, SystemInfoRequest, () => presentSystemInfo(systemFacts(c.services, c.ctx.root)));
  serve(c, StoreCheckRequest, (p) =>
    // tmp/ entries named before this process started are an earlier run's leftovers.
    checkStore(c.services.images.store, { repair: p.repair === true, startedAt: Date.now() - process.uptime() * 1000 }),
  );
}
