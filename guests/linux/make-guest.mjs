#!/usr/bin/env node
// Second half of guests/linux/build.sh: from the extracted Debian packages, writes
// public/guests/linux/{bzImage,initrd.img,manifest.json}. Pure Node, no root needed
// (device nodes are written straight into the cpio archive).
//
// usage: node make-guest.mjs --kernel-root DIR --kernel-version V --busybox FILE
//          --out DIR --packages JSON --cmdline STRING [--extra-root DIR]
//   --extra-root: files built by build.sh (guests/linux/tools), added like rootfs/
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, readdirSync, statSync, mkdirSync, renameSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { writeNewc } from './cpio-newc.mjs';
import { readModinfo, canonicalName, dependsList, softdepPre, loadOrder } from './modinfo.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** Modules the lab needs at boot; their dependencies are added automatically. */
export const WANTED_MODULES = ['ata_piix', 'sd_mod', 'ext4', 'xen-blkfront', 'xen-netfront'];
/** The file tests read back with md5sum. */
export const TEST_FILE = 'etc/pvlab-test.txt';

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    if (!k.startsWith('--') || i + 1 >= argv.length) throw new Error(`bad argument ${k}`);
    out[k.slice(2)] = argv[i + 1];
  }
  for (const k of ['kernel-root', 'kernel-version', 'busybox', 'out', 'packages', 'cmdline']) {
    if (!out[k]) throw new Error(`missing --${k}`);
  }
  return out;
}

function walk(dir) {
  const files = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) files.push(...walk(p));
    else if (st.isFile()) files.push(p);
  }
  return files;
}

const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const md5 = (b) => createHash('md5').update(b).digest('hex');

function main() {
  const args = parseArgs(process.argv.slice(2));
  const kver = args['kernel-version'];
  if (!/^[0-9A-Za-z._+-]+$/.test(kver)) throw new Error(`odd kernel version ${kver}`);
  const modRoot = join(args['kernel-root'], 'lib/modules', kver);
  const vmlinuz = readFileSync(join(args['kernel-root'], 'boot', `vmlinuz-${kver}`));
  if (vmlinuz.length < 0x300 || vmlinuz.toString('latin1', 0x202, 0x206) !== 'HdrS') {
    throw new Error('vmlinuz has no Linux boot protocol header (HdrS)');
  }

  // Index every module by canonical name and by its plain aliases (no wildcards).
  const modules = new Map();
  const aliases = new Map();
  for (const file of walk(join(modRoot, 'kernel'))) {
    if (!file.endsWith('.ko')) continue;
    const rel = relative(modRoot, file);
    const name = canonicalName(rel.split('/').pop().slice(0, -3));
    modules.set(name, { name, rel, file, info: null });
  }
  const infoOf = (m) => {
    if (!m.info) {
      const mi = readModinfo(readFileSync(m.file));
      m.info = { depends: dependsList(mi.get('depends') ?? []), softPre: softdepPre(mi.get('softdep') ?? []),
        aliases: mi.get('alias') ?? [] };
    }
    return m.info;
  };
  const lookup = (name) => {
    let m = modules.get(name);
    if (!m) {
      if (aliases.size === 0) {
        for (const mod of modules.values()) {
          for (const a of infoOf(mod).aliases) if (!/[*?[]/.test(a)) aliases.set(canonicalName(a), mod.name);
        }
      }
      const real = aliases.get(name);
      m = real ? modules.get(real) : undefined;
    }
    if (!m) return undefined;
    const i = infoOf(m);
    return { name: m.name, depends: i.depends, softPre: i.softPre };
  };
  const order = loadOrder(WANTED_MODULES, lookup);

  // Lay out the initramfs.
  const entries = [];
  const dirs = new Set();
  const addDir = (p) => {
    const parts = p.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) { dirs.add(d); entries.push({ path: d, type: 'dir', mode: d === 'tmp' ? 0o1777 : 0o755 }); }
    }
  };
  const addFile = (p, data, mode) => { addDir(dirname(p) === '.' ? '' : dirname(p)); entries.push({ path: p, type: 'file', mode, data }); };
  dirs.add('');
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'tmp', 'run', 'root', 'mnt', 'var/log', 'etc/pvlab']) addDir(d);
  entries.push({ path: 'dev/console', type: 'chardev', mode: 0o600, major: 5, minor: 1 });
  entries.push({ path: 'dev/null', type: 'chardev', mode: 0o666, major: 1, minor: 3 });
  entries.push({ path: 'dev/ttyS0', type: 'chardev', mode: 0o600, major: 4, minor: 64 });

  addFile('bin/busybox', readFileSync(args.busybox), 0o755);
  entries.push({ path: 'bin/sh', type: 'symlink', mode: 0o777, target: 'busybox' });

  const rootfs = join(here, 'rootfs');
  let testMd5 = '';
  for (const file of args['extra-root'] ? walk(args['extra-root']) : []) {
    addFile(relative(args['extra-root'], file), readFileSync(file), statSync(file).mode & 0o111 ? 0o755 : 0o644);
  }
  for (const file of walk(rootfs)) {
    const rel = relative(rootfs, file);
    const data = readFileSync(file);
    addFile(rel, data, statSync(file).mode & 0o111 ? 0o755 : 0o644);
    if (rel === TEST_FILE) testMd5 = md5(data);
  }
  if (!testMd5) throw new Error(`${TEST_FILE} missing from rootfs`);

  const modLines = [];
  const depLines = [];
  for (const name of order) {
    const m = modules.get(name);
    addFile(join('lib/modules', kver, m.rel), readFileSync(m.file), 0o644);
    modLines.push(`${name} ${m.rel}`);
    depLines.push(`${m.rel}: ${infoOf(m).depends.map((d) => modules.get(canonicalName(d)).rel).join(' ')}`.trimEnd());
  }
  addFile('etc/pvlab/modules', Buffer.from(modLines.join('\n') + '\n'), 0o644);
  // lets busybox modprobe find the same modules (and the kernel's on-demand loads)
  addFile(join('lib/modules', kver, 'modules.dep'), Buffer.from(depLines.join('\n') + '\n'), 0o644);

  const cpio = writeNewc(entries, { mtime: 0 });
  const initrd = gzipSync(cpio, { level: 9 });

  const outDir = args.out;
  mkdirSync(outDir, { recursive: true });
  const put = (name, data) => { writeFileSync(join(outDir, name + '.tmp'), data); renameSync(join(outDir, name + '.tmp'), join(outDir, name)); };
  put('bzImage', vmlinuz);
  put('initrd.img', initrd);

  const manifest = {
    format: 1,
    kernelVersion: kver,
    packages: JSON.parse(args.packages),
    cmdline: args.cmdline,
    files: {
      bzImage: { size: vmlinuz.length, sha256: sha256(vmlinuz) },
      'initrd.img': { size: initrd.length, sha256: sha256(initrd), cpioSize: cpio.length },
    },
    modules: order,
    testFile: { path: '/' + TEST_FILE, md5: testMd5 },
    shellPrompt: 'root@pvlab:~# ',
    readyLine: 'pvlab: ready',
  };
  put('manifest.json', JSON.stringify(manifest, null, 2) + '\n');
  console.log(`modules (load order): ${order.join(' ')}`);
  console.log(`bzImage ${vmlinuz.length} bytes, initrd.img ${initrd.length} bytes (cpio ${cpio.length})`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try { main(); } catch (e) { console.error(`make-guest: ${e.message}`); process.exit(1); }
}
