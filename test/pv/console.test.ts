import { describe, expect, it } from 'vitest';
import * as X from '../../engine-ts/pv/xen-public';
import { PAGE } from './fake-guest';
import { CONSOLE_GFN, World } from './sim-guest';

// xencons_interface offsets
const IN = 0;
const OUT = 1024;
const IN_CONS = 3072;
const IN_PROD = 3076;
const OUT_CONS = 3080;
const OUT_PROD = 3084;

function setup() {
  const w = new World();
  const g = w.addGuest(1);
  const page = CONSOLE_GFN * PAGE;
  const out = w.consoles.get(1)!;
  /** hvc_xen's write: bytes at out_prod, bump, notify. */
  const write = (s: string) => {
    const prod = g.mem.u32(page + OUT_PROD);
    for (let i = 0; i < s.length; i++) g.mem.peek(page + OUT + ((prod + i) & 2047), 1)[0] = s.charCodeAt(i);
    g.mem.setU32(page + OUT_PROD, (prod + s.length) >>> 0);
    g.send(g.consolePort);
  };
  /** hvc_xen's read: bytes from in_cons to in_prod. */
  const read = () => {
    const cons = g.mem.u32(page + IN_CONS);
    const prod = g.mem.u32(page + IN_PROD);
    let s = '';
    for (let i = cons; i !== prod; i = (i + 1) >>> 0) s += String.fromCharCode(g.mem.peek(page + IN + (i & 1023), 1)[0]);
    g.mem.setU32(page + IN_CONS, prod);
    return s;
  };
  return { w, g, page, out, write, read };
}

describe('console backend', () => {
  it('the guest finds the console through HVM params 17/18', () => {
    const { g } = setup();
    expect(g.getParam(X.HVM_PARAM_CONSOLE_PFN)).toBe(CONSOLE_GFN);
    expect(g.consolePort).toBeGreaterThan(0);
    expect(g.xsRead('console/ring-ref')).toBe(String(CONSOLE_GFN));
  });

  it('guest output reaches the host sink, across the ring wrap', () => {
    const { g, page, out, write } = setup();
    g.mem.setU32(page + OUT_CONS, 2040);
    g.mem.setU32(page + OUT_PROD, 2040);
    write('Linux version 6.1\n');
    expect(String.fromCharCode(...out)).toBe('Linux version 6.1\n');
    expect(g.mem.u32(page + OUT_CONS)).toBe(2040 + 18);
  });

  it('host input is delivered to the in ring with an event, and waits while the ring is full', () => {
    const { w, g, read } = setup();
    const con = w.ts.guest(1)!.console;
    con.input(Uint8Array.from('ls\r', (c) => c.charCodeAt(0)));
    expect(g.takePending(g.consolePort)).toBe(true);
    expect(read()).toBe('ls\r');
    // 1500 bytes: 1024 fit, the rest waits for the guest to consume.
    con.input(new Uint8Array(1500).fill(0x61));
    expect(read().length).toBe(1024);
    g.send(g.consolePort); // the guest tells us it consumed
    expect(read().length).toBe(476);
  });

  it('corrupt indexes are survived: output resynchronises, input waits', () => {
    const { w, g, page, out, write, read } = setup();
    g.mem.setU32(page + OUT_PROD, 100000); // claims 100000 bytes of output
    g.send(g.consolePort);
    expect(out.length).toBe(0);
    write('ok\n');
    expect(String.fromCharCode(...out)).toBe('ok\n');
    const con = w.ts.guest(1)!.console;
    g.mem.setU32(page + IN_CONS, 5000); // consumer ahead of producer
    con.input(Uint8Array.of(0x41));
    expect(g.mem.u32(page + IN_PROD)).toBe(0);
    g.mem.setU32(page + IN_CONS, 0);
    g.send(g.consolePort);
    expect(read()).toBe('A');
    expect(con.ringErrors).toBe(2);
  });
});
