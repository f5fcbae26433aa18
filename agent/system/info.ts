/**
 * The facts about the agent and its host that `system/info` (agent/server/system.ts) and the
 * Docker API's `GET /info` (agent/docker/system.ts) both answer, gathered once here in Berth's own
 * words; each front door's presenter shapes them (agent/presenters/system.ts,
 * agent/presenters/docker/system.ts). Reads the host (uname, /etc/os-release, the cgroup mount)
 * and the core's views; throws System when the cgroup layout cannot be read.
 */
import { readFileSync } from 'node:fs';
import { cpus, machine, release, totalmem } from 'node:os';
import { isErrno } from '../errors';
import type { ImageService } from '../images/service';
import { hostPlatform } from '../oci/platform';
import { detectCgroups } from '../runtime/cgroups';
import type { ContainerService } from '../runtime/containers/service';
import { formatSubnet } from '../runtime/network/config';

declare const BERTH_VERSION: string;

/** The agent's version: set by the bundler, "0.0.0-dev" when run from source. */
export const agentVersion = () => (typeof BERTH_VERSION !== 'undefined' ? BERTH_VERSION : '0.0.0-dev');

export interface SystemFacts {
  version: string;
  /** The store root ($BERTH_ROOT). */
  root: string;
  cgroupVersion: '1' | '2';
  /** uname -r. */
  kernelVersion: string;
  /** PRETTY_NAME of /etc/os-release ("" when it cannot be read). */
  operatingSystem: string;
  /** Node's platform name ("linux"). */
  osType: string;
  /** uname -m ("x86_64"). */
  machine: string;
  /** Go's architecture name of the host, as image configs write it ("amd64"). */
  architecture: string;
  cpus: number;
  memoryBytes: number;
  containers: { total: number; running: number; stopped: number };
  /** Images in the store, tagged or not. */
  images: number;
  defaultNetwork: { bridge: string; subnet: string };
  /** Security options in force for every container, as Docker words them ("name=cgroupns"). */
  securityOptions: string[];
}

/** The facts now (see the file's header). */
export function systemFacts(services: { images: ImageService; containers: ContainerService }, root: string): SystemFacts {
  const { images, containers } = services;
  const all = containers.views(true);
  const running = all.filter((v) => v.record.state.status === 'running').length;
  const cgroups = detectCgroups();
  const network = containers.network.config;
  return {
    version: agentVersion(),
    root,
    cgroupVersion: cgroups.mode === 'v2' ? '2' : '1',
    kernelVersion: release(),
    operatingSystem: osPrettyName(),
    osType: process.platform,
    machine: machine(),
    architecture: hostPlatform().architecture,
    cpus: cgroups.hostCpus || cpus().length,
    memoryBytes: totalmem(),
    containers: { total: all.length, running, stopped: all.length - running },
    // A count needs the records only, not their configs and layers.
    images: images.store.listImages().length,
    defaultNetwork: { bridge: network.bridge, subnet: formatSubnet(network.subnet) },
    securityOptions: ['name=cgroupns'],
  };
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
