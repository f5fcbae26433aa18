/**
 * Resource limits of a container and their validation. Values follow Docker's flags
 * (`--memory`, `--memory-swap`, `--cpus`, `--pids-limit`) after the CLI has parsed units; the CLI
 * maps Docker's "no limit" spellings (`--pids-limit -1`, `--cpus 0`) to an absent field.
 */
import { BerthError, ErrorCode } from '../../errors';

/** Limits for {@link ContainerCgroup.create}. An absent field means "no limit". */
export interface Limits {
  /** Memory limit in bytes; at least {@link MIN_MEMORY_BYTES} (Docker's minimum, 6 MiB). */
  memoryBytes?: number;
  /**
   * Memory plus swap in bytes, as Docker's `--memory-swap`: at least `memoryBytes` (equal means no
   * swap), or -1 for unlimited swap. Needs `memoryBytes`. Absent: the swap limit is left alone
   * (the kernel default is unlimited; Docker's CLI default of twice `--memory` is the CLI's to
   * apply). Fails when the kernel does not account swap (no memory.memsw.* / memory.swap.max).
   */
  memorySwapBytes?: number;
  /** CPUs' worth of time per period: 1.5 => quota 150000 us per 100000 us. 0.01 to the host's CPUs. */
  cpus?: number;
  /** Maximum number of tasks (processes and threads), at least 1. */
  pidsLimit?: number;
}

/** Docker refuses smaller memory limits: a container cannot even start its init below this. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
/** The CFS period Berth uses, in microseconds (the kernel's default). */
export const CPU_PERIOD_US = 100_000;
/** The kernel's smallest CFS quota, in microseconds (1 ms). */
const MIN_CPU_QUOTA_US = 1000;

function invalid(message: string): BerthError {
  return new BerthError(ErrorCode.InvalidArgument, message, { operation: 'cgroup limits' });
}

/**
 * Checks limits before anything is created. Throws BerthError(InvalidArgument) with a sentence
 * naming the flag and the accepted range: negative or fractional byte counts, memory below 6 MiB,
 * swap below memory or without memory, cpus not in [0.01, hostCpus] (0 is refused: leave `cpus`
 * out for no limit), pidsLimit below 1 or fractional.
 */
export function validateLimits(limits: Limits, hostCpus: number): void {
  const { memoryBytes, memorySwapBytes, cpus, pidsLimit } = limits;
  if (memoryBytes !== undefined) {
    if (!Number.isSafeInteger(memoryBytes) || memoryBytes < 0) {
      throw invalid(`invalid memory limit ${memoryBytes}: must be a whole, non-negative number of bytes`);
    }
    if (memoryBytes < MIN_MEMORY_BYTES) {
      throw invalid(`invalid memory limit ${memoryBytes} bytes: the minimum is 6 MiB (${MIN_MEMORY_BYTES} bytes)`);
    }
  }
  if (memorySwapBytes !== undefined) {
    if (memoryBytes === undefined) {
      throw invalid('a memory+swap limit needs a memory limit too (set --memory with --memory-swap)');
    }
    if (memorySwapBytes !== -1 && (!Number.isSafeInteger(memorySwapBytes) || memorySwapBytes < memoryBytes)) {
      throw invalid(
        `invalid memory+swap limit ${memorySwapBytes}: must be -1 (unlimited swap) or a whole number of bytes at least the memory limit (${memoryBytes})`,
      );
    }
  }
  if (cpus !== undefined) {
    if (!Number.isFinite(cpus) || cpus <= 0) {
      throw invalid(`invalid cpus ${cpus}: must be more than 0 (leave it out for no limit)`);
    }
    if (Math.round(cpus * CPU_PERIOD_US) < MIN_CPU_QUOTA_US) {
      throw invalid(`invalid cpus ${cpus}: the minimum is 0.01`);
    }
    if (cpus > hostCpus) {
      throw invalid(`invalid cpus ${cpus}: this host has ${hostCpus} CPU${hostCpus === 1 ? '' : 's'}`);
    }
  }
  if (pidsLimit !== undefined && (!Number.isSafeInteger(pidsLimit) || pidsLimit < 1)) {
    throw invalid(`invalid pids limit ${pidsLimit}: must be a whole number of at least 1 (leave it out for no limit)`);
  }
}

/** The CFS quota in microseconds per {@link CPU_PERIOD_US} for `cpus`. */
export function cpuQuotaUs(cpus: number): number {
  return Math.round(cpus * CPU_PERIOD_US);
}
