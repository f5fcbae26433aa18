/**
 * Docker's wording of container states, shared by every presenter of them: the CLI's `ps` STATUS
 * column (cli/containers.ts), relative ages (client/format.ts) and the Docker Engine API's
 * `Status` field (agent/presenters/docker/). Pure functions of their arguments.
 */
import type { ContainerSummary } from './shared';

/** A duration the way Docker (go-units' HumanDuration) words it: "Less than a second", "About a minute", "3 weeks". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** Docker's "never" (Go's zero time), as container times say it. */
const NEVER = /^0001-01-01T/;

/** `ps`'s STATUS: "Created", "Up 3 seconds", "Exited (3) 2 minutes ago" ("Exited (3)" without a finish time). */
export function statusText(c: Pick<ContainerSummary, 'State' | 'ExitCode' | 'StartedAt' | 'FinishedAt'>, now: number): string {
  if (c.State === 'running') return `Up ${humanDuration(Math.max(0, now - Date.parse(c.StartedAt)))}`;
  if (c.State === 'exited') {
    if (!c.FinishedAt || NEVER.test(c.FinishedAt)) return `Exited (${c.ExitCode})`;
    return `Exited (${c.ExitCode}) ${humanDuration(Math.max(0, now - Date.parse(c.FinishedAt)))} ago`;
  }
  return 'Created';
}
