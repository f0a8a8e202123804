// readelf's facts about a shared object: machine, NEEDED libraries, GLIBC_ symbol versions.
// Used by scripts/prebuild.mjs and by the test that checks the committed prebuilds.
import { execFileSync } from 'node:child_process';

/** Compares dotted versions ('2.14' < '2.17'). */
export function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** readelf's facts about one binary: { machine, needed, glibcMax, glibcVersions }. */
export function elfFacts(path) {
  const readelf = (...args) => execFileSync('readelf', [...args, path], { encoding: 'utf8' });
  const machine = /Machine:\s+(.+)/.exec(readelf('-h'))?.[1]?.trim() ?? '?';
  const needed = [...readelf('-d').matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g)].map((m) => m[1]);
  const glibc = [...new Set([...readelf('-V', '--wide').matchAll(/GLIBC_([0-9.]+)/g)].map((m) => m[1]))].sort(compareVersions);
  return { machine, needed, glibcMax: glibc.at(-1) ?? null, glibcVersions: glibc };
}
