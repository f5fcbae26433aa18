/** The `volume/*` requests (agent/runtime/volumes via the container service). */
import { CreateVolumeRequest, InspectVolumeRequest, ListVolumesRequest, PruneVolumesRequest, RemoveVolumeRequest } from '../../protocol';
import { presentVolume, presentVolumePrune } from '../presenters/volumes';
import type { AgentConnection } from './connection';
import { serve } from './serve';

export function serveVolumes(c: AgentConnection): void {
  const volumes = c.services.containers.volumes;
  serve(c, CreateVolumeRequest, (p) => presentVolume(volumes.create(p.name || undefined, p.labels)));
  serve(c, ListVolumesRequest, () => volumes.list().map(presentVolume));
  serve(c, InspectVolumeRequest, (p) => presentVolume(volumes.inspect(p.name)));
  serve(c, RemoveVolumeRequest, (p) => volumes.remove(p.name));
  serve(c, PruneVolumesRequest, (p) => presentVolumePrune(volumes.prune(p.all === true)));
}
