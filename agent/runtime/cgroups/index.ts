/**
 * Container cgroups, v1, v2 and hybrid, detected at start. See ./container for the layout on disk
 * and the choices (which v1 controllers, how OOM kills are learnt).
 */
export { type CgroupFs, realCgroupFs } from './fs';
export {
  type CgroupLayout,
  type CgroupMode,
  type MountInfoEntry,
  detectCgroups,
  parseMountinfo,
  isVisible,
  V1_CONTROLLERS,
} from './detect';
export { type Limits, validateLimits, cpuQuotaUs, MIN_MEMORY_BYTES, CPU_PERIOD_US } from './limits';
export { ContainerCgroup, type CgroupStats, type CreateOptions, V1_JOINED, V2_ENABLED, V1_DEVICE_ALLOW, parseKeyValues } from './container';
