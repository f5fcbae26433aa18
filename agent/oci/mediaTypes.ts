/**
 * OCI and Docker media types, the limits Berth puts on manifests and configs, and the layer
 * compression a media type implies.
 */

// ---------------------------------------------------------------------------------------------
// Media types
// ---------------------------------------------------------------------------------------------

export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DockerSchema1Manifest: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1SignedManifest: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Media types of single-platform image manifests Berth pulls. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.OciManifest, MediaType.DockerManifest];
/** Media types of multi-platform indexes Berth pulls. */
export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.OciIndex, MediaType.DockerManifestList];
/** Docker schema 1 media types: recognised only to refuse them. */
export const SCHEMA1_MEDIA_TYPES: readonly string[] = [MediaType.DockerSchema1Manifest, MediaType.DockerSchema1SignedManifest];
/** Image config media types. */
export const CONFIG_MEDIA_TYPES: readonly string[] = [MediaType.OciConfig, MediaType.DockerConfig];
/** Layer media types Berth downloads and unpacks. */
export const LAYER_MEDIA_TYPES: readonly string[] = [
  MediaType.OciLayer,
  MediaType.OciLayerGzip,
  MediaType.OciLayerZstd,
  MediaType.DockerLayerGzip,
];
/** Layer media types Berth refuses: their content is not in the registry. */
export const FOREIGN_LAYER_MEDIA_TYPES: readonly string[] = [
  MediaType.DockerForeignLayerGzip,
  MediaType.OciLayerNondistributable,
  MediaType.OciLayerNondistributableGzip,
  MediaType.OciLayerNondistributableZstd,
];

/** The value of an HTTP `Accept` header for manifest requests (schema 1 only to refuse it). */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
  `${MediaType.DockerSchema1SignedManifest};q=0.1`,
  `${MediaType.DockerSchema1Manifest};q=0.1`,
].join(', ');

/** How a layer blob is compressed, by media type. */
export function layerCompression(mediaType: string): 'none' | 'gzip' | 'zstd' {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType.endsWith('+zstd')) return 'zstd';
  return 'none';
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/** Largest manifest or index accepted, in bytes. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Largest image config accepted, in bytes. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** Most layers an image may have. */
export const MAX_LAYERS = 1000;
/** Most entries an index may have. */
export const MAX_INDEX_ENTRIES = 1000;
/** Most history entries a config may have (empty layers included). */
export const MAX_HISTORY = 10000;
