/**
 * The `netns` option's targets: a bare name is a namespace of `ip netns add` (as nfq-dump's
 * --netns and `ip netns exec` read it), a path is a path, and mistakes name what was given.
 */
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fstatSync, statSync } from 'node:fs';
import { openNetns, netnsPath, validateNetnsTarget } from '../../src/netlink/netns.js';
import { NetlinkSocketError } from '../../src/netlink/errors.js';

const root = process.getuid?.() === 0;

describe('netns targets', () => {
  it('a bare name is looked up in /run/netns; a path is kept', () => {
    expect(netnsPath('blue')).toBe('/run/netns/blue');
    expect(netnsPath('/proc/1/ns/net')).toBe('/proc/1/ns/net');
    expect(netnsPath('./blue')).toBe('./blue');
  });

  it('a missing name says which file it looked for and how to make it', () => {
    const name = `shape-no-such-${process.pid}`;
    let err: unknown;
    try {
      openNetns(name).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NetlinkSocketError);
    expect((err as Error).message).toBe(`cannot open network namespace ${name} (/run/netns/${name}): no such namespace (ip netns list shows the names; ip netns add ${name} makes it)`);
  });

  it("'.' and '..' are not names", () => {
    for (const bad of ['', '.', '..']) expect(() => validateNetnsTarget(bad), bad).toThrow(/namespace name \(ip netns list\), a path such as \/proc\/PID\/ns\/net, or an open fd/);
  });

  it.skipIf(!root)('a name made by ip netns add opens that namespace', () => {
    const name = `shape-netns-${process.pid}`;
    execFileSync('ip', ['netns', 'add', name]);
    try {
      const ns = openNetns(name);
      try {
        expect(ns.label).toBe(`${name} (/run/netns/${name})`);
        expect(fstatSync(ns.fd).ino).toBe(statSync(`/run/netns/${name}`).ino);
      } finally {
        ns.close();
      }
    } finally {
      execFileSync('ip', ['netns', 'del', name]);
    }
  });
});
