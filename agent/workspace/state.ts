/**
 * A workspace container's lifecycle state: `<container dir>/workspace.json` (removed with the
 * container), read and written by `up`, `down` and `status` (service.ts) and the lifecycle
 * commands (lifecycle.ts). The file carries `formatVersion` ({@link WORKSPACE_STATE_FORMAT}); one
 * written before it had one (the same fields) is read as it is and rewritten when first read.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, isBerthError, isErrno } from '../errors';
import type { ContainerService } from '../runtime/containers/service';
import { writeFileAtomic } from '../store/fsutil';
import type { LifecycleName } from './devcontainer';

/** The operation named in errors of `workspace/up` (and of this state's files). */
export const OP_UP = 'workspace up';
const STATE_FILE = 'workspace.json';

/** What `<container dir>/workspace.json` holds. */
export const WORKSPACE_STATE_FORMAT = 1;

export interface WorkspaceState {
  formatVersion?: typeof WORKSPACE_STATE_FORMAT;
  configHash: string;
  configFile: string;
  image: string;
  workspaceFolder: string;
  remoteUser: string;
  remoteEnv: string[];
  forwardPorts: number[];
  /** Create-time commands that succeeded. */
  done: LifecycleName[];
}

function statePath(svc: ContainerService, id: string): string {
  return join(svc.runtimeOf(svc.find(id, OP_UP)).dir, STATE_FILE);
}

/**
 * The container's workspace state; undefined when it has none (not a workspace container, or
 * made by an `up` that failed before writing it), or one this agent cannot read (damaged, or
 * of a newer format): the container is then not reused. Migrates a file of the format before 1.
 */
export function readState(svc: ContainerService, id: string): WorkspaceState | undefined {
  let s: WorkspaceState;
  try {
    s = JSON.parse(readFileSync(statePath(svc, id), 'utf8')) as WorkspaceState;
  } catch (e) {
    if (isErrno(e, 'ENOENT') || e instanceof SyntaxError || isBerthError(e, ErrorCode.NotFound)) return undefined;
    throw e;
  }
  if (!s || typeof s.configHash !== 'string' || !Array.isArray(s.done)) return undefined;
  if (s.formatVersion === undefined) writeState(svc, id, s);
  else if (s.formatVersion !== WORKSPACE_STATE_FORMAT) return undefined;
  return s;
}

export function writeState(svc: ContainerService, id: string, s: WorkspaceState): void {
  writeFileAtomic(statePath(svc, id), JSON.stringify({ ...s, formatVersion: WORKSPACE_STATE_FORMAT }, null, 1), 0o600);
}
