/**
 * The agent's facts (agent/system/info.ts) as the JSON-RPC `system/info` answers them: Docker's
 * field names, Berth's values. Pure.
 */
import { API_VERSION, type SystemInfoResult } from '../../protocol';
import type { SystemFacts } from '../system/info';

export function presentSystemInfo(f: SystemFacts): SystemInfoResult {
  return {
    ServerVersion: f.version,
    ApiVersion: API_VERSION,
    DockerRootDir: f.root,
    Driver: 'overlay',
    CgroupVersion: f.cgroupVersion,
    CgroupDriver: 'cgroupfs',
    KernelVersion: f.kernelVersion,
    OperatingSystem: f.operatingSystem,
    OSType: f.osType,
    Architecture: f.machine,
    NCPU: f.cpus,
    MemTotal: f.memoryBytes,
    Containers: f.containers.total,
    ContainersRunning: f.containers.running,
    ContainersPaused: 0,
    ContainersStopped: f.containers.stopped,
    Images: f.images,
    DefaultNetwork: { Bridge: f.defaultNetwork.bridge, Subnet: f.defaultNetwork.subnet },
    SecurityOptions: f.securityOptions,
  };
}
