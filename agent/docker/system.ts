/** The Docker API's system routes: `GET/HEAD /_ping`, `GET /version`, `GET /info`. */
import { dockerInfo, dockerVersion } from '../presenters/docker/system';
import { systemFacts } from '../system/info';
import { API_VERSION, MIN_API_VERSION, type Route } from './http';

export const systemRoutes: readonly Route[] = [
  {
    methods: ['GET', 'HEAD'],
    path: ['_ping'],
    handle: () => ({
      text: 'OK',
      headers: {
        'API-Version': API_VERSION,
        OSType: 'linux',
        'Docker-Experimental': 'false',
        'Cache-Control': 'no-cache, no-store, must-revalidate',
        Pragma: 'no-cache',
      },
    }),
  },
  {
    methods: ['GET'],
    path: ['version'],
    handle: (ctx) => ({ json: dockerVersion(systemFacts(ctx, ctx.root), API_VERSION, MIN_API_VERSION) }),
  },
  { methods: ['GET'], path: ['info'], handle: (ctx) => ({ json: dockerInfo(systemFacts(ctx, ctx.root)) }) },
];
