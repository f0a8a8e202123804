// The kernel side of the matrix: Debian packages fetched with `apt-get download` (never
// installed: this machine's boot is not touched), unpacked into the cache, module
// dependencies computed with depmod, and the small busybox initramfs each guest boots.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/** A message for the user, printed without a stack trace. */
export class MatrixError extends Error {}

/** Throws a MatrixError naming the Debian package when `cmd` is not on PATH. */
export function requireCommand(cmd, pkg) {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) {
    throw new MatrixError(`${cmd} not found: install the Debian package ${pkg} (apt-get install -y ${pkg})`);
  }
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) {
    throw new MatrixError(`${[cmd, ...args].join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${(r.stderr || r.stdout || '').trim()}`);
  }
  return r.stdout;
}

/** The version apt would install for `pkg` now, or undefined. */
function candidate(pkg) {
  const r = spawnSync('apt-cache', ['policy', pkg], { encoding: 'utf8' });
  const m = /Candidate:\s*(\S+)/.exec(r.stdout ?? '');
  return m && m[1] !== '(none)' ? m[1] : undefined;
}

/** apt-get download names a file `NAME_VERSION_ARCH.deb` with ':' written as '%3a'. */
function debPrefix(pkg, version) {
  return `${pkg}_${version.replace(/:/g, '%3a')}_`;
}

/** The cached .deb of `pkg` at exactly `version`, downloaded when missing. */
export function fetchDeb(cache, pkg, version) {
  const dir = join(cache, 'debs');
  mkdirSync(dir, { recursive: true });
  const find = () => readdirSync(dir).find((f) => f.startsWith(debPrefix(pkg, version)) && f.endsWith('.deb'));
  if (find() === undefined) {
    requireCommand('apt-get', 'apt');
    const r = spawnSync('apt-get', ['download', `${pkg}=${version}`], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0 || find() === undefined) {
      const now = candidate(pkg);
      const offer = now === undefined ? `apt offers no ${pkg} at all (run apt-get update, or pick another package)` : `apt offers ${pkg}=${now}`;
      throw new MatrixError(
        `kernel package ${pkg}=${version} cannot be downloaded: ${(r.stderr || '').trim().split('\n').pop()}\n` +
          `${offer}; pin that version in scripts/kernel-matrix/matrix.json (Debian's security archive keeps only the newest build)`,
      );
    }
  }
  return join(dir, find());
}

/** Unpacks a .deb once into `dir` (a marker file says it is complete). */
function unpack(deb, dir) {
  const marker = join(dir, '.unpacked');
  if (existsSync(marker)) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  run('dpkg-deb', ['-x', deb, dir]);
  writeFileSync(marker, `${basename(deb)}\n`);
}

/** Cache directory name of a package version. */
function slot(cache, pkg, version) {
  return join(cache, `${pkg}_${version}`.replace(/[^A-Za-z0-9.+_-]/g, '_'));
}

/**
 * Fetches and unpacks a kernel image package; returns its vmlinuz, its release (uname -r)
 * and its module tree (with modules.dep, which Debian builds only at install time).
 */
export function prepareKernel(cache, kernel) {
  const deb = fetchDeb(cache, kernel.package, kernel.version);
  const dir = slot(cache, kernel.package, kernel.version);
  unpack(deb, dir);
  const releases = readdirSync(join(dir, 'lib', 'modules'));
  if (releases.length !== 1) throw new MatrixError(`${kernel.package}: expected one module tree, found ${releases.join(', ') || 'none'}`);
  const release = releases[0];
  if (!existsSync(join(dir, 'lib', 'modules', release, 'modules.dep'))) {
    requireCommand('depmod', 'kmod');
    run('depmod', ['-b', dir, release]);
  }
  const vmlinuz = join(dir, 'boot', `vmlinuz-${release}`);
  if (!existsSync(vmlinuz)) throw new MatrixError(`${kernel.package} holds no ${vmlinuz}`);
  return { root: dir, release, vmlinuz, modules: join(dir, 'lib', 'modules', release) };
}

/** Fetches and unpacks busybox-static; returns the path of its binary. */
export function prepareBusybox(cache, busybox) {
  const deb = fetchDeb(cache, busybox.package, busybox.version);
  const dir = slot(cache, busybox.package, busybox.version);
  unpack(deb, dir);
  return join(dir, 'bin', 'busybox');
}

/** The modules the initramfs loads before it can mount anything: virtio PCI, 9p, overlayfs. */
const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

/** Module files (dependencies first) of BOOT_MODULES that the kernel does not have built in. */
function bootModuleFiles(kernel) {
  const files = [];
  for (const m of BOOT_MODULES) {
    const out = run('modprobe', ['-d', kernel.root, '-S', kernel.release, '--show-depends', m]);
    for (const line of out.split('\n')) {
      const [what, path] = line.trim().split(/\s+/);
      if (what === 'insmod' && !files.includes(path)) files.push(path);
    }
  }
  return files;
}

const shellQuote = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/**
 * Builds the guest's initramfs (gzip'd newc cpio): busybox, /init (guest-init.sh), the boot
 * modules, and /matrix.env with the variables the guest needs. Returns its path.
 */
export function buildInitramfs(cache, name, kernel, busyboxBin, initScript, env) {
  requireCommand('cpio', 'cpio');
  const stage = join(cache, 'initramfs', name);
  rmSync(stage, { recursive: true, force: true });
  for (const d of ['bin', 'modules', 'usr/sbin', 'proc', 'sys', 'dev']) mkdirSync(join(stage, d), { recursive: true });
  copyFileSync(busyboxBin, join(stage, 'bin', 'busybox'));
  copyFileSync(initScript, join(stage, 'init'));
  // The kernel runs its module helper from the initramfs' root: hand over to the host
  // root's modprobe, which finds the guest's modules bind-mounted there.
  writeFileSync(join(stage, 'usr/sbin/modprobe-guest'), '#!/bin/busybox sh\nexec /bin/busybox chroot /newroot /usr/sbin/modprobe "$@"\n');
  for (const f of ['bin/busybox', 'init', 'usr/sbin/modprobe-guest']) chmodSync(join(stage, f), 0o755);
  const order = [];
  for (const f of bootModuleFiles(kernel)) {
    copyFileSync(f, join(stage, 'modules', basename(f)));
    order.push(basename(f));
  }
  writeFileSync(join(stage, 'modules', 'order'), `${order.join('\n')}\n`);
  writeFileSync(join(stage, 'matrix.env'), Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}\n`).join(''));
  const out = join(cache, 'initramfs', `${name}.cpio.gz`);
  run('sh', ['-c', `find . | cpio -o -H newc --quiet | gzip -1 > ${shellQuote(out)}`], { cwd: stage });
  return out;
}
