/**
 * Containers in Docker's shapes, made from the runtime's {@link ContainerView}s (its records in
 * Berth's own words, runtime/containers/record.ts, plus what the running agent knows): the answers
 * of `container/inspect` and `container/list` of the JSON-RPC protocol, field for field as the
 * agent gave them before the records had their own vocabulary; the coming Docker Engine API is a
 * second caller of the same functions. The other way (options -> a create spec) is
 * runtime/containers/decode.ts. Pure: no I/O.
 */
import type { ContainerInspect, ContainerSummary, WaitContainerResult } from '../../protocol';
import type { ContainerView, ExitResult } from '../runtime/containers/service';
import { dockerPortBindings, dockerPorts } from '../runtime/network/ports';

/** Docker's "never" time. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

type Mounts = ContainerInspect['Mounts'];
type NetworkSettings = ContainerInspect['NetworkSettings'];

/** Host binds, then volumes (Docker's MountPoint shape), as inspect and list show them. */
function mountsOf(v: ContainerView): Mounts {
  const { binds, volumes } = v.record.mounts;
  return [
    ...binds.map((m) => ({ Type: 'bind' as const, Source: m.source, Destination: m.target, RW: !m.readOnly })),
    ...volumes.map((m, i) => ({
      Type: 'volume' as const,
      Name: m.name,
      Source: v.volumeSources[i],
      Destination: m.destination,
      Driver: 'local' as const,
      RW: !m.readOnly,
    })),
  ];
}

/** Docker's Config.ExposedPorts ("80/tcp" -> {}); undefined for records made before networking. */
function exposedOf(v: ContainerView): Record<string, Record<string, never>> | undefined {
  const e = v.record.network.exposed;
  return e ? Object.fromEntries(e.map((k) => [k, {}])) : undefined;
}

/**
 * Docker's NetworkSettings: while a bridge container runs, its address, gateway, MAC, namespace
 * and every exposed port with the host ports really listened on (null when not published);
 * otherwise empty addresses and no ports. Networks has one entry, keyed by the mode.
 */
function networkSettingsOf(v: ContainerView): NetworkSettings {
  const mode = v.record.network.mode;
  const ep = v.endpoint;
  const net = {
    NetworkID: mode,
    Gateway: ep?.gateway ?? '',
    IPAddress: ep?.ip ?? '',
    IPPrefixLen: ep?.prefixLen ?? 0,
    MacAddress: ep?.mac ?? '',
  };
  return {
    Bridge: ep?.bridge ?? '',
    SandboxKey: ep?.sandboxKey ?? '',
    Ports: v.running && mode === 'bridge' ? dockerPorts(exposedOf(v), ep?.bound ?? []) : {},
    Gateway: net.Gateway,
    IPAddress: net.IPAddress,
    IPPrefixLen: net.IPPrefixLen,
    MacAddress: net.MacAddress,
    Networks: { [mode]: net },
  };
}

/** Docker's ContainerSummary.Ports: while running, the published ports, then the other exposed ones. */
function summaryPortsOf(v: ContainerView): ContainerSummary['Ports'] {
  if (!v.running) return [];
  const bound = v.endpoint?.bound ?? [];
  const out: ContainerSummary['Ports'] = bound.map((b) => ({
    IP: b.hostIp,
    PrivatePort: b.containerPort,
    PublicPort: b.hostPort,
    Type: b.protocol,
  }));
  for (const k of v.record.network.exposed ?? []) {
    const m = /^(\d+)\/(tcp|udp)$/.exec(k);
    if (m && !bound.some((b) => b.containerPort === Number(m[1]) && b.protocol === m[2]))
      out.push({ PrivatePort: Number(m[1]), Type: m[2] as 'tcp' | 'udp' });
  }
  return out;
}

/** Docker's State of the record's last run. */
function stateOf(v: ContainerView): ContainerInspect['State'] {
  const s = v.record.state;
  return {
    Status: s.status,
    Running: s.status === 'running',
    Pid: s.pid,
    ExitCode: s.exitCode,
    OOMKilled: s.oomKilled,
    StartedAt: s.startedAt ?? ZERO_TIME,
    FinishedAt: s.finishedAt ?? ZERO_TIME,
    Error: s.error,
  };
}

/** `container/inspect`'s answer. */
export function presentContainer(v: ContainerView): ContainerInspect {
  const r = v.record;
  const p = r.process;
  const exposed = exposedOf(v);
  return {
    Id: r.id,
    Name: `/${r.name}`,
    Created: r.createdAt,
    Path: p.path,
    Args: p.args,
    State: stateOf(v),
    Image: r.image.id,
    // Key order as the agent always answered: the attach fields first.
    Config: {
      Tty: p.tty,
      OpenStdin: p.openStdin,
      AttachStdin: p.openStdin,
      AttachStdout: true,
      AttachStderr: true,
      StdinOnce: p.stdinOnce,
      Hostname: r.hostname,
      Env: p.env,
      Cmd: p.cmd,
      Entrypoint: p.entrypoint,
      WorkingDir: p.workingDir,
      User: p.user,
      Image: r.image.reference,
      Labels: r.labels,
      StopSignal: p.stopSignal,
      ...(exposed ? { ExposedPorts: exposed } : {}),
    },
    HostConfig: {
      Binds: r.mounts.given,
      Memory: r.limits.memoryBytes,
      NanoCpus: r.limits.nanoCpus,
      PidsLimit: r.limits.pids,
      Privileged: r.security.privileged,
      CapAdd: r.security.capAdd,
      CapDrop: r.security.capDrop,
      AutoRemove: r.autoRemove,
      ...(p.init ? { Init: true } : {}),
      ...(r.security.userns === 'auto' ? { UsernsMode: 'auto' } : {}),
      NetworkMode: r.network.mode,
      PortBindings: dockerPortBindings(r.network.ports),
    },
    Mounts: mountsOf(v),
    GraphDriver: { Name: 'overlay', Data: { LowerDir: v.lowerDirs.join(':'), UpperDir: v.upperDir, WorkDir: v.workDir } },
    NetworkSettings: networkSettingsOf(v),
  };
}

/** One row of `container/list`. */
export function presentContainerSummary(v: ContainerView): ContainerSummary {
  const r = v.record;
  const s = stateOf(v);
  return {
    Id: r.id,
    Names: [`/${r.name}`],
    Image: r.image.reference,
    ImageID: r.image.id,
    Command: [r.process.path, ...r.process.args].join(' '),
    Created: Math.floor(Date.parse(r.createdAt) / 1000),
    State: s.Status,
    ExitCode: s.ExitCode,
    OOMKilled: s.OOMKilled,
    StartedAt: s.StartedAt,
    FinishedAt: s.FinishedAt,
    Labels: r.labels,
    Ports: summaryPortsOf(v),
    Mounts: mountsOf(v),
  };
}

/** `container/wait`'s answer: Docker's wait response of how the run ended. */
export function presentWait(r: ExitResult): WaitContainerResult {
  return { StatusCode: r.exitCode, OOMKilled: r.oomKilled, ...(r.error ? { Error: r.error } : {}) };
}
