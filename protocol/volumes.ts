/**
 * Volumes (Docker's "local" driver).
 */
import type * as v from 'valibot';
import { params, text, anyText, bool, stringMap, opt, request, NoParams } from './schema';

// ---------------------------------------------------------------------------------------------
// Volumes (client -> agent). Docker's "local" driver: a directory per volume under
// $BERTH_ROOT/volumes/<name>/_data. Names follow `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (InvalidArgument
// otherwise). A volume is in use while any container (running or not) names it.
// ---------------------------------------------------------------------------------------------

/** Docker's volume shape. */
export interface Volume {
  Name: string;
  Driver: 'local';
  /** The host directory containers see. */
  Mountpoint: string;
  /** RFC 3339. */
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  Options: null;
}

export const CreateVolumeParams = params({
  /** A random 64-hex name when absent. */
  name: opt(anyText()),
  labels: opt(stringMap()),
});
export type CreateVolumeParams = v.InferOutput<typeof CreateVolumeParams>;

/**
 * `volume/create`. Sent by `berth volume create` and the extension. Creating an existing volume
 * answers it unchanged (Docker's behaviour). Emits the volume event `create`.
 * Errors: InvalidArgument (name, labels), System.
 */
export const CreateVolumeRequest = request('volume/create', CreateVolumeParams).answers<Volume>();

/** `volume/list`. Every volume, by name. Errors: none. */
export const ListVolumesRequest = request('volume/list', NoParams).answers<Volume[]>();

export const VolumeRefParams = params({
  name: text(),
});
export type VolumeRefParams = v.InferOutput<typeof VolumeRefParams>;

/** `volume/inspect`. Errors: InvalidArgument, NotFound. */
export const InspectVolumeRequest = request('volume/inspect', VolumeRefParams).answers<Volume>();

/**
 * `volume/remove`. Deletes the volume and its data. Emits `destroy`.
 * Errors: InvalidArgument, NotFound, Conflict (a container uses it), System.
 */
export const RemoveVolumeRequest = request('volume/remove', VolumeRefParams).answers<void>();

export const PruneVolumesParams = params({
  /** Named volumes too; without it only anonymous ones go, as in Docker 23+. */
  all: opt(bool()),
});
export type PruneVolumesParams = v.InferOutput<typeof PruneVolumesParams>;

/**
 * `volume/prune`. Removes the anonymous volumes no container uses (with `all`, named ones too).
 * Emits `destroy` for each. Errors: InvalidArgument, System.
 */
export const PruneVolumesRequest = request('volume/prune', PruneVolumesParams).answers<{
  VolumesDeleted: string[];
  SpaceReclaimed: number;
}>();
