/**
 * The OCI vocabulary in one import: media types, digests, manifest/index/config shapes and their
 * validating parsers, image references and platforms. This folder is the agent's ground floor: it
 * imports nothing of the agent but `../errors`, so the store, the registry client, the image verbs
 * and the clients (the CLI's host-side `cp`) can all stand on it.
 *
 * The tar reader/writer, the layer-index format, the decompressors, the tree pack/extract and the
 * byte queue are imported from their own files (they are larger and fewer callers need them).
 */
export * from './digest';
export * from './manifest';
export * from './mediaTypes';
export * from './platform';
export * from './reference';
