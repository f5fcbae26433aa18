/**
 * Image references: parsing, normalising and printing names like "busybox",
 * "127.0.0.1:5000/team/app:v1" or "alpine@sha256:...", with Docker's rules.
 *
 * Grammar (Docker's distribution reference grammar, restricted to the digests Berth verifies):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component ( "/" path-component )*
 *   domain     := host [ ":" port ]          host: DNS name, IPv4, or "[" IPv6 "]"
 *   path-comp  := [a-z0-9]+ ( ( [._] | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest     := "sha256:" 64 lowercase hex  |  "sha512:" 128 lowercase hex
 *
 * The first "/"-separated component is a registry only when it contains "." or ":" or is
 * "localhost"; otherwise the name lives on Docker Hub ("docker.io"), where single-component names
 * get the "library/" prefix. "index.docker.io" is the same registry as "docker.io". The fully
 * normalised name ("docker.io/library/busybox") is at most 255 characters.
 */
import { BerthError, ErrorCode } from '../errors';

/** A parsed, normalised image reference. */
export interface ImageReference {
  /** Registry host with optional port, normalised: "docker.io", "127.0.0.1:5000", "[::1]:5000". */
  registry: string;
  /** Repository path within the registry, lowercase: "library/busybox", "team/app". */
  repository: string;
  /** Tag, when one was given (or added by {@link withDefaultTag}). */
  tag?: string;
  /** Manifest digest ("sha256:..."), when one was given; it wins over the tag for pulling. */
  digest?: string;
}

/** Docker Hub's canonical registry name. */
export const DOCKER_HUB = 'docker.io';
/** Maximum length of a normalised name (registry + "/" + repository). */
export const NAME_TOTAL_LENGTH_MAX = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:.]+\\])(?::[0-9]{1,5})?$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

function invalid(input: string, why: string): BerthError {
  return new BerthError(ErrorCode.InvalidReference, `invalid image reference "${input}": ${why}`, {
    operation: 'parse reference',
    reference: input,
  });
}

/**
 * Parses and normalises a reference the way `docker pull` does.
 * Throws BerthError(InvalidReference) with `data.reference` = the input, and a message saying what
 * is wrong (bad tag, uppercase repository, bad digest, name too long, ...).
 */
export function parseReference(input: string): ImageReference {
  if (typeof input !== 'string' || input.length === 0) throw invalid(String(input), 'the reference is empty');
  if (input.length > 4096) throw invalid(input.slice(0, 64) + '...', 'the reference is too long');
  if (/\s/.test(input)) throw invalid(input, 'it contains whitespace');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) {
      throw invalid(input, `"${digest}" is not a valid digest (expected sha256: and 64 lowercase hex digits)`);
    }
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/') && !rest.endsWith(']')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) {
      throw invalid(input, `"${tag}" is not a valid tag (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`);
    }
  }
  if (rest.length === 0) throw invalid(input, 'the repository name is missing');

  let registry = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      if (!HOST_RE.test(first)) throw invalid(input, `"${first}" is not a valid registry host`);
      registry = first === 'index.docker.io' ? DOCKER_HUB : first;
      path = rest.slice(slash + 1);
    }
  }

  const components = path.split('/');
  for (const c of components) {
    if (c.length === 0) throw invalid(input, 'the repository name has an empty path component');
    if (!PATH_COMPONENT.test(c)) {
      if (PATH_COMPONENT.test(c.toLowerCase())) {
        throw invalid(input, `repository names must be lowercase ("${path.toLowerCase()}", not "${path}")`);
      }
      throw invalid(
        input,
        `"${c}" is not a valid repository name component (lowercase letters and digits, separated by ".", "_", "__" or "-")`,
      );
    }
  }
  if (registry === DOCKER_HUB && components.length === 1) path = `library/${path}`;

  const nameLength = registry.length + 1 + path.length;
  if (nameLength > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(input, `the repository name is ${nameLength} characters long; at most ${NAME_TOTAL_LENGTH_MAX} are allowed`);
  }

  const ref: ImageReference = { registry, repository: path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/**
 * The fully qualified form: "docker.io/library/busybox:latest", "host:5000/a/b@sha256:...",
 * "x/y:tag@sha256:..." (tag and digest both kept when both are set).
 */
export function formatReference(r: ImageReference): string {
  return `${r.registry}/${r.repository}${r.tag !== undefined ? ':' + r.tag : ''}${r.digest !== undefined ? '@' + r.digest : ''}`;
}

/**
 * The short form Docker prints: the registry dropped for Docker Hub and "library/" dropped for
 * official images ("busybox:latest", "user/app:1"); other registries kept ("127.0.0.1:5000/x:y").
 */
export function familiarName(r: ImageReference): string {
  let name: string;
  if (r.registry === DOCKER_HUB) {
    const rest = r.repository.startsWith('library/') ? r.repository.slice('library/'.length) : r.repository;
    name = rest.includes('/') ? r.repository : rest;
  } else {
    name = `${r.registry}/${r.repository}`;
  }
  return `${name}${r.tag !== undefined ? ':' + r.tag : ''}${r.digest !== undefined ? '@' + r.digest : ''}`;
}

/** A copy of `r` with tag "latest" when it has neither tag nor digest; otherwise an unchanged copy. */
export function withDefaultTag(r: ImageReference): ImageReference {
  if (r.tag === undefined && r.digest === undefined) return { ...r, tag: 'latest' };
  return { ...r };
}

/** The host (and port) that serves a registry's HTTP API: "docker.io" is "registry-1.docker.io". */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}
