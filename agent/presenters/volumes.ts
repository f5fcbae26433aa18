/**
 * Volumes in Docker's shape (`volume/create`, `volume/list`, `volume/inspect`, `volume/prune` of the JSON-RPC
 * protocol; the coming Docker Engine API answers the same shape): made from the runtime's
 * {@link VolumeInfo}s (agent/runtime/volumes.ts), which know nothing of it.
 */
import type { Volume } from '../../protocol';
import type { VolumeInfo } from '../runtime/volumes';

/** Docker's Volume of a local volume. */
export function presentVolume({ record, dataDir }: VolumeInfo): Volume {
  return {
    Name: record.name,
    Driver: 'local',
    Mountpoint: dataDir,
    CreatedAt: record.createdAt,
    Labels: record.labels,
    Scope: 'local',
    Options: null,
  };
}

/** `volume/prune`'s answer (Docker's VolumesPruneResponse). */
export function presentVolumePrune(r: { deleted: string[]; reclaimedBytes: number }): { VolumesDeleted: string[]; SpaceReclaimed: number } {
  return { VolumesDeleted: r.deleted, SpaceReclaimed: r.reclaimedBytes };
}
