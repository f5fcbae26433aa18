/**
 * `image/build`: the builder (agent/builder/) reads the context as the peer may; the build runs
 * under the connection's abort (cancelling or closing stops it and removes its step container).
 */
import { BuildImageRequest, BuildProgressNotification } from '../../protocol';
import { buildImage } from '../builder/builder';
import { BuildCache } from '../builder/cache';
import type { AgentConnection } from './connection';
import { serve } from './serve';

export function serveBuild(c: AgentConnection): void {
  const { images, containers } = c.services;
  serve(c, BuildImageRequest, (p, token) =>
    c.withAbort(token, (signal) =>
      buildImage(
        { images, containers, cache: new BuildCache(images.store, c.log), log: c.log },
        {
          contextDir: p.contextDir,
          dockerfile: p.dockerfile || undefined,
          dockerfileContent: p.dockerfileContent,
          tags: p.tags,
          buildArgs: p.buildArgs,
          target: p.target || undefined,
          noCache: p.noCache === true,
        },
        {
          peer: c.ctx.peer,
          signal,
          onProgress: p.progressToken ? (event) => c.notify(BuildProgressNotification.type, { token: p.progressToken!, event }) : undefined,
        },
      ),
    ),
  );
}
