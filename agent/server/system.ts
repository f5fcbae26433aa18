/** The agent itself: `berth/version`, `system/info`, and `store/check` (agent/store/check.ts). */
import { readFileSync } from 'node:fs';
import { cpus, machine, release, totalmem } from 'node:os';
import { API_VERSION, StoreCheckRequest, SystemInfoRequest, type SystemInfoResult, VersionRequest } from '../../protocol';
import { isErrno } from '../errors';
import { detectCgroups } from '../runtime/cgroups';
import { formatSubnet } from '../runtime/network/config';
import { hostPlatform } from '../oci/platform';
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
  serve(c, SystemInfoRequest, (): SystemInfoResult => {
    const { images, containers } = c.services;
    const all = containers.views(true);
    const running = all.filter((v) => v.record.state.status === 'running').length;
    const cgroups = detectCgroups();
    const network = containers.network.config;
    return {
      ServerVersion: agentVersion(),
      ApiVersion: API_VERSION,
      DockerRootDir: c.ctx.root,
      Driver: 'overlay',
      CgroupVersion: cgroups.mode === 'v2' ? '2' : '1',
      CgroupDriver: 'cgroupfs',
      KernelVersion: release(),
      OperatingSystem: osPrettyName(),
      OSType: process.platform,
      Architecture: machine(),
      NCPU: cgroups.hostCpus || cpus().length,
      MemTotal: totalmem(),
      Containers: all.length,
      ContainersRunning: running,
      ContainersPaused: 0,
      ContainersStopped: all.length - running,
      Images: images.views(true).length,
      DefaultNetwork: { Bridge: network.bridge, Subnet: formatSubnet(network.subnet) },
      SecurityOptions: ['name=cgroupns'],
    };
  });
  serve(c, StoreCheckRequest, (p) =>
    // tmp/ entries named before this process started are an earlier run's leftovers.
    checkStore(c.services.images.store, { repair: p.repair === true, startedAt: Date.now() - process.uptime() * 1000 }),
  );
}

/** PRETTY_NAME of /etc/os-release; "" when there is none. */
function osPrettyName(): string {
  try {
    const m = /^PRETTY_NAME=(?:"([^"]*)"|(.*))$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m ? (m[1] ?? m[2] ?? '') : '';
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'EACCES')) return '';
    throw e;
  }
}
