/**
 * The URIs of Browse Files:
 *
 *   berth-container://<container ID, 64 hex>/etc/hosts
 *   berth-image://<image ID without "sha256:", 64 hex>/etc/passwd
 *
 * The authority is a full ID (never a name or tag: they move; a ":" would read as a port), the
 * path is the absolute path inside the rootfs. Plain functions over vscode.Uri.
 */
import * as vscode from 'vscode';
import type { FsTarget } from '../../protocol';

export const CONTAINER_SCHEME = 'berth-container';
export const IMAGE_SCHEME = 'berth-image';

const HEX64 = /^[0-9a-f]{64}$/;

/** A file of a container, by its full ID. */
export function containerUri(containerId: string, path = '/'): vscode.Uri {
  return vscode.Uri.from({ scheme: CONTAINER_SCHEME, authority: containerId, path: normalise(path) });
}

/** A file of an image, by its ID ("sha256:<hex>" or the hex alone). */
export function imageUri(imageId: string, path = '/'): vscode.Uri {
  return vscode.Uri.from({ scheme: IMAGE_SCHEME, authority: imageId.replace(/^sha256:/, ''), path: normalise(path) });
}

/** What the agent is asked about for `uri`, or undefined when it is not a Browse Files URI. */
export function targetOf(uri: vscode.Uri): { target: FsTarget; path: string } | undefined {
  if (!HEX64.test(uri.authority)) return undefined;
  const path = normalise(uri.path);
  if (uri.scheme === CONTAINER_SCHEME) return { target: { container: uri.authority }, path };
  if (uri.scheme === IMAGE_SCHEME) return { target: { image: `sha256:${uri.authority}` }, path };
  return undefined;
}

export function isBrowseUri(uri: vscode.Uri | undefined): uri is vscode.Uri {
  return uri !== undefined && targetOf(uri) !== undefined;
}

/** "/a/b/" -> "/a/b"; "" -> "/". */
function normalise(path: string): string {
  const p = path.startsWith('/') ? path : `/${path}`;
  return p.length > 1 ? p.replace(/\/+$/, '') || '/' : p;
}

/** The parent directory's path ("/" for "/" and "/etc"). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** A child's path. */
export function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}
