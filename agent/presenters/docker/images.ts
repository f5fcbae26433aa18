/**
 * Images in the Engine API's shapes where they differ from the JSON-RPC answers
 * (agent/presenters/images.ts, which these build on): names in Docker's familiar form
 * ("busybox:latest", "127.0.0.1:5000/a/b:v1"), the fields Docker adds (ParentId, SharedSize,
 * Containers, GraphDriver, ...), and none of Berth's own (`Berth`). Pure.
 */
import { ErrorCode, isBerthError } from '../../errors';
import type { ImageView } from '../../images/service';
import { familiarName, parseReference } from '../../oci';
import { imageInspect, imageSummary } from '../images';

/** A stored full name ("docker.io/library/busybox:latest" or "...@sha256:...") in Docker's familiar form. */
export function familiar(name: string): string {
  try {
    return familiarName(parseReference(name));
  } catch (e) {
    // A stored name always parses; should one not, it is shown as stored rather than hidden.
    if (isBerthError(e, ErrorCode.InvalidReference)) return name;
    throw e;
  }
}

/** One row of `GET /images/json`. */
export function dockerImageSummary(v: ImageView) {
  const s = imageSummary(v);
  return {
    Id: s.Id,
    ParentId: '',
    RepoTags: s.RepoTags.map(familiar),
    RepoDigests: s.RepoDigests.map(familiar),
    Created: s.Created,
    Size: s.Size,
    SharedSize: -1,
    Labels: s.Labels,
    Containers: -1,
  };
}

/** `GET /images/{name}/json`. */
export function dockerImageInspect(v: ImageView) {
  const { Berth: _berth, ...i } = imageInspect(v);
  return {
    ...i,
    RepoTags: i.RepoTags.map(familiar),
    RepoDigests: i.RepoDigests.map(familiar),
    Parent: '',
    Comment: '',
    DockerVersion: '',
    GraphDriver: {
      Name: 'overlay',
      Data: {
        LowerDir: v.layers
          .map((l) => l.path)
          .reverse()
          .join(':'),
      },
    },
  };
}
