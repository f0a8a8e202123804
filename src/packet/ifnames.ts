/**
 * Interface index → name, for Packet.indev / outdev / physindev / physoutdev.
 *
 * Names come from /sys/class/net/NAME/ifindex. /sys shows the interfaces of the network
 * namespace it was mounted in: `ip netns exec` remounts it for the namespace, so a
 * consumer started that way sees its own interfaces. A small cache keeps lookups cheap; a
 * miss (an interface created after the last scan) rescans at most once per
 * `rescanIntervalMs`. Indexes are reused after an interface is deleted, so the cache is
 * also refreshed when a cached name no longer has that index.
 */
import { readdirSync, readFileSync } from 'node:fs';

const cache = new Map<number, { name: string; checked: number }>();
let lastScan = -Infinity;
let sysRoot = '/sys/class/net';
let rescanIntervalMs = 1000;

function scan(): void {
  cache.clear();
  lastScan = Date.now();
  let names: string[];
  try {
    names = readdirSync(sysRoot);
  } catch {
    return;
  }
  for (const name of names) {
    try {
      const idx = Number(readFileSync(`${sysRoot}/${name}/ifindex`, 'utf8').trim());
      if (Number.isInteger(idx) && idx > 0) cache.set(idx, { name, checked: lastScan });
    } catch {
      // vanished between readdir and read, or not an interface directory
    }
  }
}

function stillValid(index: number, name: string): boolean {
  try {
    return Number(readFileSync(`${sysRoot}/${name}/ifindex`, 'utf8').trim()) === index;
  } catch {
    return false;
  }
}

/**
 * The name of interface `index` in this process's network namespace (e.g. 'lo', 'eth0'),
 * or undefined for an unknown index (and for undefined/0, which the kernel uses for "no
 * device").
 */
export function interfaceName(index: number | undefined): string | undefined {
  if (index === undefined || !Number.isInteger(index) || index <= 0) return undefined;
  const now = Date.now();
  const hit = cache.get(index);
  if (hit !== undefined) {
    // Revalidate (one small read) at most once per interval: indexes are reused rarely.
    if (now - hit.checked < rescanIntervalMs) return hit.name;
    if (stillValid(index, hit.name)) {
      hit.checked = now;
      return hit.name;
    }
  } else if (now - lastScan < rescanIntervalMs) {
    return undefined;
  }
  scan();
  return cache.get(index)?.name;
}

/** Every interface of this namespace, index → name (a fresh scan). */
export function interfaceNames(): Map<number, string> {
  scan();
  return new Map([...cache].map(([i, e]) => [i, e.name]));
}

/** Forgets the cache (next lookup rescans). */
export function clearInterfaceNameCache(): void {
  cache.clear();
  lastScan = -Infinity;
}

/** @internal for tests: read names from another directory laid out like /sys/class/net. */
export function setInterfaceNameSource(root: string, rescanMs = 1000): void {
  sysRoot = root;
  rescanIntervalMs = rescanMs;
  clearInterfaceNameCache();
}

/** Hardware address bytes as `aa:bb:cc:dd:ee:ff`. */
export function formatHwaddr(addr: Uint8Array | undefined): string | undefined {
  if (addr === undefined) return undefined;
  let s = '';
  for (let i = 0; i < addr.byteLength; i++) s += (i === 0 ? '' : ':') + addr[i]!.toString(16).padStart(2, '0');
  return s;
}
