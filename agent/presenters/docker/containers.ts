/**
 * Containers in the Engine API's shapes where they differ from the JSON-RPC answers
 * (agent/presenters/containers.ts, which these build on): `GET /containers/json`'s summary, with
 * Docker's human `Status` ("Up 5 seconds", "Exited (0) 3 minutes ago"), HostConfig.NetworkMode and
 * NetworkSettings.Networks, and `GET /containers/{id}/json`, with the State and top-level fields
 * Docker adds. Pure: `now` and sizes come from the caller.
 */
import type { ContainerView } from '../../runtime/containers/service';
import { presentContainer, presentContainerSummary } from '../containers';

/** Docker's (go-units) HumanDuration of `ms`. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** The `Status` column of `docker ps`. */
export function dockerStatus(v: ContainerView, now: number): string {
  const s = v.record.state;
  if (s.status === 'running') return `Up ${humanDuration(now - Date.parse(s.startedAt ?? v.record.createdAt))}`;
  if (s.status === 'exited') {
    const since = s.finishedAt ? humanDuration(now - Date.parse(s.finishedAt)) : undefined;
    return since ? `Exited (${s.exitCode}) ${since} ago` : `Exited (${s.exitCode})`;
  }
  return 'Created';
}

/** One row of `GET /containers/json`; `sizes` only when the client asked for them (`size=1`). */
export function dockerContainerSummary(v: ContainerView, now: number, sizes?: { rw: number; rootFs: number }) {
  const s = presentContainerSummary(v);
  const inspect = presentContainer(v);
  return {
    Id: s.Id,
    Names: s.Names,
    Image: s.Image,
    ImageID: s.ImageID,
    Command: s.Command,
    Created: s.Created,
    Ports: s.Ports,
    ...(sizes ? { SizeRw: sizes.rw, SizeRootFs: sizes.rootFs } : {}),
    Labels: s.Labels,
    State: s.State,
    Status: dockerStatus(v, now),
    HostConfig: { NetworkMode: v.record.network.mode },
    NetworkSettings: { Networks: inspect.NetworkSettings.Networks },
    Mounts: s.Mounts ?? [],
  };
}

/** `GET /containers/{id}/json`: Berth's inspect answer with the fields Docker adds around it. */
export function dockerContainerInspect(v: ContainerView) {
  const c = presentContainer(v);
  return {
    ...c,
    State: { ...c.State, Paused: false, Restarting: false, Dead: false },
    RestartCount: 0,
    Driver: 'overlay',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: { ...c.HostConfig, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, LogConfig: { Type: 'json-file', Config: {} } },
  };
}
