/** Generated container names: "adjective_noun", as Docker's habit is (the words are Berth's own). */
import { randomInt } from 'node:crypto';

const ADJECTIVES = [
  'amber', 'brave', 'brisk', 'calm', 'clever', 'cosy', 'crisp', 'daring', 'eager', 'fair', 'fond', 'gentle', 'glad', 'golden',
  'hardy', 'humble', 'jolly', 'keen', 'kind', 'lively', 'lucid', 'merry', 'mellow', 'nimble', 'noble', 'patient', 'plucky',
  'proud', 'quiet', 'quick', 'rapid', 'ready', 'serene', 'sharp', 'shy', 'silver', 'steady', 'sunny', 'swift', 'tidy', 'vivid',
  'warm', 'wise', 'witty', 'zesty',
];

const NOUNS = [
  'anchor', 'beacon', 'buoy', 'capstan', 'cove', 'current', 'dinghy', 'dock', 'ferry', 'fjord', 'galley', 'harbor', 'hull',
  'inlet', 'jetty', 'keel', 'lagoon', 'lantern', 'mast', 'mooring', 'oar', 'pier', 'pilot', 'quay', 'reef', 'rudder', 'sail',
  'schooner', 'shoal', 'skiff', 'sloop', 'sound', 'spar', 'stern', 'tide', 'tiller', 'wake', 'wharf', 'yawl',
];

export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; i < 20; i++) {
    const n = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}`;
    if (!taken(n)) return n;
  }
  for (;;) {
    const n = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}${randomInt(1000)}`;
    if (!taken(n)) return n;
  }
}
