/**
 * The agent's facts (agent/system/info.ts) in the Engine API's shapes: `GET /version`'s
 * SystemVersion and `GET /info`'s SystemInfo, as the docker CLI 28 reads them (`docker version`,
 * `docker info`). Pure.
 */
import { hostname } from 'node:os';
import type { SystemFacts } from '../../system/info';

/** `GET /version`. `api`/`minApi`: the versions the front door announces. */
export function dockerVersion(f: SystemFacts, api: string, minApi: string) {
  const details = {
    ApiVersion: api,
    Arch: f.architecture,
    BuildTime: '',
    Experimental: 'false',
    GitCommit: '',
    GoVersion: '',
    KernelVersion: f.kernelVersion,
    MinAPIVersion: minApi,
    Os: f.osType,
  };
  return {
    Platform: { Name: 'Berth' },
    Components: [{ Name: 'Engine', Version: f.version, Details: details }],
    Version: f.version,
    ApiVersion: api,
    MinAPIVersion: minApi,
    GitCommit: '',
    GoVersion: '',
    Os: f.osType,
    Arch: f.architecture,
    KernelVersion: f.kernelVersion,
    BuildTime: '',
  };
}

/** `GET /info`: Berth's figures where it has them, Docker's "none" values elsewhere. */
export function dockerInfo(f: SystemFacts) {
  return {
    ID: '',
    Containers: f.containers.total,
    ContainersRunning: f.containers.running,
    ContainersPaused: 0,
    ContainersStopped: f.containers.stopped,
    Images: f.images,
    Driver: 'overlay',
    DriverStatus: [] as string[][],
    Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'none'], Authorization: null, Log: ['json-file'] },
    MemoryLimit: true,
    SwapLimit: false,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: true,
    PidsLimit: true,
    IPv4Forwarding: true,
    Debug: false,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: 'json-file',
    CgroupDriver: 'cgroupfs',
    CgroupVersion: f.cgroupVersion,
    NEventsListener: 0,
    KernelVersion: f.kernelVersion,
    OperatingSystem: f.operatingSystem,
    OSVersion: '',
    OSType: f.osType,
    Architecture: f.machine,
    IndexServerAddress: 'https://index.docker.io/v1/',
    NCPU: f.cpus,
    MemTotal: f.memoryBytes,
    DockerRootDir: f.root,
    Name: hostname(),
    Labels: [] as string[],
    ExperimentalBuild: false,
    ServerVersion: f.version,
    Runtimes: { berth: { path: 'berth-helper' } },
    DefaultRuntime: 'berth',
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    // Containers keep running while the agent restarts (their monitors outlive it).
    LiveRestoreEnabled: true,
    Isolation: '',
    InitBinary: '',
    SecurityOptions: f.securityOptions,
    Warnings: [] as string[],
  };
}
