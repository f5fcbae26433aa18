/**
 * The Docker API's image routes of this slice (read-only): `GET /images/json` (all; filters
 * dangling, label, reference, before, since) and `GET /images/{name}/json` (names with slashes, by ID or
 * prefix, or by digest).
 */
import type { ImageView } from '../images/service';
import { dockerImageInspect, dockerImageSummary, familiar } from '../presenters/docker/images';
import type { Route } from './http';
import { boolFilter, filtersParam, labelsMatch } from './query';

export const imageRoutes: readonly Route[] = [
  {
    methods: ['GET'],
    path: ['images', 'json'],
    // `all`: Berth keeps no intermediate images (no parent chain), so every image is listed either way.
    handle: (ctx, req) => {
      const f = filtersParam(req.query, ['dangling', 'label', 'reference', 'before', 'since'], ['until']);
      // before/since: relative to another image's creation time (a missing one is 404).
      const createdOf = (ref: string) => Date.parse(ctx.images.viewOf(ref, 'list images').config.created ?? '') || 0;
      const before = f.get('before')?.map(createdOf);
      const since = f.get('since')?.map(createdOf);
      const dangling = f.has('dangling') ? boolFilter('dangling', f.get('dangling')!) : undefined;
      const refs = f.get('reference')?.map(referencePattern);
      const keep = (v: ImageView) => {
        if (dangling !== undefined && dangling !== (v.tags.length === 0)) return false;
        if (!labelsMatch(v.config.config?.Labels ?? {}, f.get('label'))) return false;
        if (refs && !v.tags.map(familiar).some((t) => refs.some((m) => m(t)))) return false;
        const created = Date.parse(v.config.created ?? '') || 0;
        if (before && !before.every((t) => created < t)) return false;
        if (since && !since.every((t) => created > t)) return false;
        return true;
      };
      return { json: ctx.images.views(true).filter(keep).map(dockerImageSummary) };
    },
  },
  {
    methods: ['GET'],
    path: ['images', '**', 'json'],
    handle: (ctx, _req, [name]) => ({ json: dockerImageInspect(ctx.images.viewOf(name, 'inspect image')) }),
  },
];

/**
 * Docker's reference filter: a shell-style pattern (`*` and `?` within one path component, `\`
 * escaping) against an image's familiar "name:tag"; a pattern without a tag also matches the
 * name alone ("busybox" and "busy*" match "busybox:latest").
 */
function referencePattern(pattern: string): (tag: string) => boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '\\' && i + 1 < pattern.length) re += reEscape(pattern[++i]);
    else re += reEscape(ch);
  }
  const full = new RegExp(`^${re}$`);
  const lastSlash = pattern.lastIndexOf('/');
  const hasTag = pattern.includes('@') || pattern.slice(lastSlash + 1).includes(':');
  return (tag) => {
    if (full.test(tag)) return true;
    if (hasTag) return false;
    const colon = tag.lastIndexOf(':');
    const name = colon > tag.lastIndexOf('/') ? tag.slice(0, colon) : tag;
    return full.test(name);
  };
}

function reEscape(ch: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(ch) ? `\\${ch}` : ch;
}
