/**
 * Containers in the Engine API's shapes where they differ from the JSON-RPC answers
 * (agent/presenters/containers.ts, which these build on): `GET /containers/json`'s summary, with
 * Docker's human `Status` ("Up 5 seconds", "Exited (0) 3 minutes ago"), HostConfig.NetworkMode and
 * NetworkSettings.Networks, and `GET /containers/{id}/json`, with the State and top-level fields
 * Docker adds. Pure: `now` and sizes come from the caller.
 */
import type { ContainerView } from '../../runtime/containers/service';
import { statusText } from '../../../protocol/wording';
import { presentContainer, presentContainerSummary } from '../containers';

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
    // Docker's human status, worded as the CLI's own `ps` words it.
    Status: statusText(s, now),
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
