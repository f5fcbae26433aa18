/**
 * The labels that mark a workspace's container: which folder it serves, the hash of the
 * configuration it was made from, and the configuration file. Written by service.ts at `up`, read
 * by it and by the port watcher (ports.ts), which is why they live apart from both.
 */
export const LABEL_WORKSPACE = 'berth.workspace';
export const LABEL_HASH = 'berth.config.hash';
export const LABEL_CONFIG = 'berth.workspace.config';
