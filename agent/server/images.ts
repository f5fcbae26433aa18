/**
 * The `image/*` requests: pull, push, list, inspect, history, tag, remove, save, load, prune, and
 * the layer inspector. Pulls and pushes run under the connection's abort (a client that goes away
 * cancels them, so their temp work is discarded).
 */
import {
  ImageHistoryRequest,
  ImageLayersRequest,
  InspectImageRequest,
  LayerFilesRequest,
  ListImagesRequest,
  LoadImagesRequest,
  PruneImagesRequest,
  PullProgressNotification,
  PullRequest,
  PushProgressNotification,
  PushRequest,
  RemoveImageRequest,
  SaveImagesRequest,
  TagImageRequest,
} from '../../protocol';
import { pruneImages } from '../runtime/containers/prune';
import { imageHistory, imageInspect, imageSummary } from '../presenters/images';
import type { AgentConnection } from './connection';
import { serve } from './serve';

export function serveImages(c: AgentConnection): void {
  const svc = c.services.images;
  const peer = c.ctx.peer;

  serve(c, PullRequest, (p, token) =>
    c.withAbort(token, async (signal) => {
      const { view, digest, upToDate } = await svc.pull(p.reference, {
        platform: p.platform && {
          os: p.platform.os,
          architecture: p.platform.architecture,
          ...(p.platform.variant ? { variant: p.platform.variant } : {}),
        },
        signal,
        onProgress: p.progressToken
          ? (layer) => c.notify(PullProgressNotification.type, { token: p.progressToken!, reference: p.reference, layer })
          : undefined,
      });
      return { image: imageSummary(view), digest, upToDate };
    }),
  );
  serve(c, PushRequest, (p, token) =>
    c.withAbort(token, (signal) =>
      svc.push(p.reference, {
        signal,
        onProgress: p.progressToken
          ? (blob) => c.notify(PushProgressNotification.type, { token: p.progressToken!, reference: p.reference, blob })
          : undefined,
      }),
    ),
  );
  serve(c, ListImagesRequest, (p) => svc.views(p.all ?? true).map(imageSummary));
  serve(c, InspectImageRequest, (p) => imageInspect(svc.viewOf(p.reference, 'inspect')));
  serve(c, ImageHistoryRequest, (p) => imageHistory(svc.viewOf(p.reference, 'history')));
  serve(c, TagImageRequest, (p) => svc.tag(p.source, p.target));
  serve(c, RemoveImageRequest, (p) => svc.remove(p.reference, p.force === true));
  serve(c, SaveImagesRequest, (p) => svc.save(p.references, p.path, peer));
  serve(c, LoadImagesRequest, async (p) => {
    const { views, tags } = await svc.load(p.path, peer);
    return { images: views.map(imageSummary), tags };
  });
  serve(c, PruneImagesRequest, (p) => pruneImages(svc, p.all === true));
  serve(c, ImageLayersRequest, (p) => svc.layers(p.reference));
  serve(c, LayerFilesRequest, (p) =>
    svc.layerFiles({ reference: p.reference, layer: p.layer, merged: p.merged, offset: p.offset, limit: p.limit }),
  );
}
