/**
 * The Images tree as data, built from `image/list` rows: repositories with their tags, and the
 * images no tag points at grouped under "<none>". Plain TypeScript, tested without VS Code.
 */
import type { ImageSummary } from '../../../protocol';
import { familiarRepo, splitRepoTag } from '../../../client/format';

export interface RepositoryNode {
  kind: 'repository';
  /** Stable across refreshes, so expansion and selection survive them. */
  id: string;
  /** Normalised: "docker.io/library/busybox". */
  repository: string;
  /** As people write it: "busybox". */
  label: string;
  tags: TagNode[];
}

export interface TagNode {
  kind: 'tag';
  id: string;
  repository: string;
  tag: string;
  /** What requests name it by: the full tag, "docker.io/library/busybox:latest". */
  reference: string;
  image: ImageSummary;
}

export interface DanglingGroupNode {
  kind: 'danglingGroup';
  id: string;
  images: DanglingImageNode[];
}

export interface DanglingImageNode {
  kind: 'dangling';
  id: string;
  /** The image ID. */
  reference: string;
  image: ImageSummary;
}

export type ImageNode = RepositoryNode | TagNode | DanglingGroupNode | DanglingImageNode;
/** The nodes that stand for one image (commands act on these). */
export type ImageLeaf = TagNode | DanglingImageNode;

export const DANGLING_LABEL = '<none>';

export function isImageLeaf(n: unknown): n is ImageLeaf {
  const k = (n as ImageNode | undefined)?.kind;
  return k === 'tag' || k === 'dangling';
}

/** Roots: repositories by familiar name, then the "<none>" group when some image has no tag. */
export function buildImageTree(images: readonly ImageSummary[]): ImageNode[] {
  const repos = new Map<string, RepositoryNode>();
  const dangling: DanglingImageNode[] = [];
  for (const image of images) {
    const tags = image.RepoTags.filter((t) => t && !t.endsWith(':<none>'));
    if (tags.length === 0) {
      dangling.push({ kind: 'dangling', id: `dangling:${image.Id}`, reference: image.Id, image });
      continue;
    }
    for (const ref of tags) {
      const [repository, tag] = splitRepoTag(ref);
      let repo = repos.get(repository);
      if (!repo) {
        repo = { kind: 'repository', id: `repository:${repository}`, repository, label: familiarRepo(repository), tags: [] };
        repos.set(repository, repo);
      }
      repo.tags.push({ kind: 'tag', id: `tag:${ref}`, repository, tag, reference: ref, image });
    }
  }
  const roots: ImageNode[] = [...repos.values()].sort((a, b) => compare(a.label, b.label));
  for (const r of roots as RepositoryNode[]) r.tags.sort((a, b) => compare(a.tag, b.tag));
  if (dangling.length) {
    dangling.sort((a, b) => b.image.Created - a.image.Created || compare(a.image.Id, b.image.Id));
    roots.push({ kind: 'danglingGroup', id: 'dangling', images: dangling });
  }
  return roots;
}

export function childrenOf(node: ImageNode): ImageNode[] {
  switch (node.kind) {
    case 'repository':
      return node.tags;
    case 'danglingGroup':
      return node.images;
    default:
      return [];
  }
}

/** Every image leaf, depth first (for pickers when a command runs from the palette). */
export function leaves(roots: readonly ImageNode[]): ImageLeaf[] {
  return roots.flatMap((r) => (isImageLeaf(r) ? [r] : leaves(childrenOf(r))));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Ages, as numbers the UI words (so the words go through vscode.l10n)
// ---------------------------------------------------------------------------------------------

export type AgeUnit = 'seconds' | 'minutes' | 'hours' | 'days' | 'weeks' | 'months' | 'years';

/** How long ago `epochSeconds` was, in the largest unit that fits; undefined when unknown (0). */
export function age(epochSeconds: number, nowMs: number): { count: number; unit: AgeUnit } | undefined {
  if (!epochSeconds) return undefined;
  const s = Math.max(0, Math.floor(nowMs / 1000 - epochSeconds));
  const steps: [AgeUnit, number][] = [
    ['years', 365 * 86400],
    ['months', 30 * 86400],
    ['weeks', 7 * 86400],
    ['days', 86400],
    ['hours', 3600],
    ['minutes', 60],
  ];
  for (const [unit, size] of steps) if (s >= size) return { count: Math.floor(s / size), unit };
  return { count: s, unit: 'seconds' };
}
