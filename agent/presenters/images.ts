/**
 * Images as Docker shows them: `ImageSummary` (`docker images`), `ImageInspect` (`docker image
 * inspect`, plus Berth's own layer details) and `HistoryEntry` (`docker history`), made from the
 * image service's views (agent/images/service.ts: a record with its config, tags and sizes). The core
 * speaks in those; only these functions know the Docker-shaped wire types, so another front door
 * can present the same model.
 */
import type { HistoryEntry, ImageInspect, ImageSummary } from '../../protocol';
import type { ImageView } from '../images/service';
import type { ImageConfig } from '../oci';

/** Seconds since the epoch of an RFC 3339 time, 0 when absent or unreadable. */
function unixSeconds(time: string | undefined): number {
  return time ? Math.floor(Date.parse(time) / 1000) || 0 : 0;
}

/** One row of `docker images`. `tags`: the full stored names pointing at the image. */
export function imageSummary({ record: rec, config, tags, size }: ImageView): ImageSummary {
  return {
    Id: rec.id,
    RepoTags: tags,
    RepoDigests: rec.repoDigests,
    Created: unixSeconds(config.created),
    Size: size,
    Layers: rec.layers.length,
    Labels: config.config?.Labels ?? {},
  };
}

/** `docker image inspect`, with Berth's manifest and per-layer details under `Berth`. */
export function imageInspect({ record: rec, config, tags, size, layers }: ImageView): ImageInspect {
  const c = config.config ?? {};
  return {
    Id: rec.id,
    RepoTags: tags,
    RepoDigests: rec.repoDigests,
    Created: config.created ?? '',
    Author: config.author ?? '',
    Architecture: config.architecture,
    Os: config.os,
    ...(config.variant ? { Variant: config.variant } : {}),
    Size: size,
    Config: {
      User: c.User ?? '',
      Env: c.Env ?? [],
      Entrypoint: c.Entrypoint ?? null,
      Cmd: c.Cmd ?? null,
      WorkingDir: c.WorkingDir ?? '',
      ExposedPorts: c.ExposedPorts ?? {},
      Volumes: c.Volumes ?? {},
      Labels: c.Labels ?? {},
      StopSignal: c.StopSignal ?? '',
    },
    RootFS: { Type: 'layers', Layers: rec.layers.map((l) => l.diffId) },
    Metadata: { LastTagTime: rec.lastTagTime },
    Berth: {
      ManifestDigest: rec.manifestDigest,
      ManifestMediaType: rec.manifestMediaType,
      Layers: rec.layers.map((l, i) => ({
        Digest: l.digest,
        DiffID: l.diffId,
        ChainID: l.chainId,
        CompressedSize: l.size,
        Size: layers[i].size ?? 0,
        Path: layers[i].path,
      })),
    },
  };
}

/**
 * `docker history`: one row per build step, newest first; the newest row carries the image ID and
 * its tags, the others "<missing>". Without a history in the config, one row per layer.
 */
export function imageHistory({ record: rec, config, tags, layers }: ImageView): HistoryEntry[] {
  const steps =
    config.history && config.history.length > 0
      ? config.history
      : rec.layers.map(() => ({}) as NonNullable<ImageConfig['history']>[number]);
  const rows: HistoryEntry[] = [];
  let layer = 0;
  for (const h of steps) {
    const empty = !!h.empty_layer;
    const l = empty ? undefined : layers[layer++];
    rows.push({
      Id: '<missing>',
      Created: unixSeconds(h.created),
      CreatedBy: h.created_by ?? '',
      Tags: null,
      Size: l?.size ?? 0,
      Comment: h.comment ?? '',
      EmptyLayer: empty,
    });
  }
  rows.reverse();
  if (rows.length > 0) {
    rows[0].Id = rec.id;
    rows[0].Tags = tags;
  }
  return rows;
}
