export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export type ManifestKind = 'image' | 'index';

export const manifestKinds: Record<string, ManifestKind> = {
  [mediaTypes.ociManifest]: 'image',
  [mediaTypes.dockerManifest]: 'image',
  [mediaTypes.ociIndex]: 'index',
  [mediaTypes.dockerManifestList]: 'index',
};

/** Layers that by definition may live elsewhere (their `urls`): a manifest may reference them without pushing them. */
export function isNonDistributable(mediaType: string): boolean {
  return (
    mediaType.includes('.nondistributable.') ||
    mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'
  );
}
