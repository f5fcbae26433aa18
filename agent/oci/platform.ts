/**
 * Platforms: the host's, parsing and printing "os/arch[/variant]", and choosing one entry of a
 * multi-platform index.
 */
import type { Platform } from '../../protocol'; // type-only: erased, so vscode-jsonrpc is never loaded
import { BerthError, ErrorCode } from '../errors';
import type { Descriptor, ImageIndex } from './manifest';

export type { Platform };

/** Node's `process.arch` names mapped to OCI architecture names. */
const NODE_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips64el: 'mips64le',
};

/**
 * The platform this process runs on: os "linux"; architecture from `process.arch` (x64 -> amd64,
 * arm64 -> arm64 with variant "v8", arm -> arm with variant "v<arm_version>" (default v7),
 * ia32 -> 386, ppc64 -> ppc64le, s390x, others as Node names them).
 */
export function hostPlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  if (architecture === 'arm') {
    const v = (process.config.variables as unknown as Record<string, unknown>).arm_version;
    const n = typeof v === 'string' || typeof v === 'number' ? String(v) : '';
    return { os: 'linux', architecture, variant: /^[5-8]$/.test(n) ? `v${n}` : 'v7' };
  }
  return { os: 'linux', architecture };
}

/** "os/architecture[/variant]", e.g. "linux/arm64/v8", "linux/amd64". */
export function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}`;
}

/** Common aliases normalised the way Docker does. */
function normalizeArch(arch: string, variant: string | undefined): { architecture: string; variant?: string } {
  switch (arch) {
    case 'x86_64':
    case 'x86-64':
      return { architecture: 'amd64', variant };
    case 'aarch64':
      return { architecture: 'arm64', variant };
    case 'armhf':
      return { architecture: 'arm', variant: variant ?? 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: variant ?? 'v6' };
    case 'i386':
    case 'i686':
      return { architecture: '386', variant };
    default:
      return { architecture: arch, variant };
  }
}

/**
 * Parses "os/arch[/variant]" (e.g. "linux/arm64/v8"), or just "arch" meaning linux. Names are
 * lowercased and common aliases normalised (x86_64 -> amd64, aarch64 -> arm64, armhf -> arm/v7).
 * Throws BerthError(InvalidArgument) with `data.platform` for anything else.
 */
export function parsePlatform(s: string): Platform {
  const parts = String(s).trim().toLowerCase().split('/');
  const ok = parts.length >= 1 && parts.length <= 3 && parts.every((p) => /^[a-z0-9._-]{1,64}$/.test(p));
  if (!ok) {
    throw new BerthError(ErrorCode.InvalidArgument, `invalid platform "${s}": expected os/architecture[/variant], e.g. linux/arm64/v8`, {
      operation: 'parse platform',
      platform: s,
    });
  }
  const [os, arch, variant] = parts.length === 1 ? ['linux', parts[0], undefined] : parts;
  const n = normalizeArch(arch, variant);
  const p: Platform = { os, architecture: n.architecture };
  if (n.variant) p.variant = n.variant;
  return p;
}

/** Variant as compared: arm64's "v8" is the same as none. */
function effectiveVariant(architecture: string, variant: string | undefined): string {
  const v = (variant ?? '').toLowerCase();
  return architecture === 'arm64' && v === 'v8' ? '' : v;
}

/** True for buildkit attestation entries and "unknown/unknown" entries, which are never images to run. */
export function isAttestation(d: Descriptor): boolean {
  if (d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') return true;
  return d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown';
}

/**
 * How well an entry's platform serves `want`: 0 = not at all; higher is better.
 * Exact variant 4; when want has no variant: no-variant entry 3, any other 2; amd64 entry without
 * variant for an amd64/vN want 3; arm entry with a lower vN than wanted 1 + N/10 (armv7 runs v6).
 */
function score(p: Platform, want: Platform): number {
  const wantArch = normalizeArch(want.architecture.toLowerCase(), want.variant);
  if (p.os.toLowerCase() !== want.os.toLowerCase()) return 0;
  const have = normalizeArch(p.architecture.toLowerCase(), p.variant);
  if (have.architecture !== wantArch.architecture) return 0;
  const arch = have.architecture;
  const hv = effectiveVariant(arch, have.variant);
  const wv = effectiveVariant(arch, wantArch.variant);
  if (wv === '') return hv === '' ? 3 : 2;
  if (hv === wv) return 4;
  if (hv === '' && arch === 'amd64') return 3;
  if (arch === 'arm') {
    const hn = /^v(\d)$/.exec(hv);
    const wn = /^v(\d)$/.exec(wv);
    if (hn && wn && Number(hn[1]) < Number(wn[1])) return 1 + Number(hn[1]) / 10;
  }
  return 0;
}

/**
 * Chooses the index entry for `want`: skips attestation entries and unknown/unknown; os and
 * architecture must match; an exact variant match wins, arm64 treats "" and "v8" alike, an amd64
 * entry without variant serves any amd64 variant, an arm entry with a lower variant serves a
 * higher one; when `want.variant` is unset an entry without variant is preferred, else the first.
 * Entries without a platform are not considered. Undefined when nothing fits.
 */
export function selectManifest(index: ImageIndex, want: Platform): Descriptor | undefined {
  let best: Descriptor | undefined;
  let bestScore = 0;
  for (const d of index.manifests) {
    if (!d.platform || isAttestation(d)) continue;
    const s = score(d.platform, want);
    if (s > bestScore) {
      best = d;
      bestScore = s;
    }
  }
  return best;
}

/** The platforms an index offers (attestations skipped), as strings, for error messages. */
export function offeredPlatforms(index: ImageIndex): string[] {
  const out: string[] = [];
  for (const d of index.manifests) {
    if (!d.platform || isAttestation(d)) continue;
    const s = platformString(d.platform);
    if (!out.includes(s)) out.push(s);
  }
  return out;
}
