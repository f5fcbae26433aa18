/**
 * Browse Files: the `fs/*` requests, read-only, answered from the layer directories
 * (agent/runtime/containers/files.ts checks the path).
 */
import { FsReadDirectoryRequest, FsReadFileRequest, FsStatRequest } from '../../protocol';
import { readDirectory, readFile, statPath } from '../runtime/containers/files';
import type { AgentConnection } from './connection';
import { serve } from './serve';

export function serveFiles(c: AgentConnection): void {
  const containers = c.services.containers;
  serve(c, FsStatRequest, (p) => statPath(containers, p.target, p.path));
  serve(c, FsReadDirectoryRequest, (p) => ({ entries: readDirectory(containers, p.target, p.path) }));
  serve(c, FsReadFileRequest, (p) => {
    const data = readFile(containers, p.target, p.path);
    return { data: data.toString('base64'), size: data.length };
  });
}
