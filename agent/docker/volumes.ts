/**
 * The Docker API's volume routes of this slice (read-only): `GET /volumes` (filters name, label,
 * driver, dangling) and `GET /volumes/{name}`. The Volume shape is the JSON-RPC one already
 * (agent/presenters/volumes.ts).
 */
import { presentVolume } from '../presenters/volumes';
import type { VolumeInfo } from '../runtime/volumes';
import type { Route } from './http';
import { boolFilter, filtersParam, labelsMatch } from './query';

export const volumeRoutes: readonly Route[] = [
  {
    methods: ['GET'],
    path: ['volumes'],
    handle: (ctx, req) => {
      const volumes = ctx.containers.volumes;
      const f = filtersParam(req.query, ['name', 'label', 'driver', 'dangling']);
      const dangling = f.has('dangling') ? boolFilter('dangling', f.get('dangling')!) : undefined;
      const keep = ({ record: r }: VolumeInfo) => {
        if (!labelsMatch(r.labels, f.get('label'))) return false;
        if (f.has('name') && !f.get('name')!.some((n) => r.name.includes(n))) return false;
        if (f.has('driver') && !f.get('driver')!.includes('local')) return false;
        if (dangling !== undefined && dangling !== (volumes.usedBy(r.name).length === 0)) return false;
        return true;
      };
      return { json: { Volumes: volumes.list().filter(keep).map(presentVolume), Warnings: [] } };
    },
  },
  {
    methods: ['GET'],
    path: ['volumes', '*'],
    handle: (ctx, _req, [name]) => ({ json: presentVolume(ctx.containers.volumes.inspect(name)) }),
  },
];
