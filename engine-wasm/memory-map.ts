// The shared WebAssembly.Memory map: every offset that both the AssemblyScript core
// and the TypeScript host use. This file must stay valid AssemblyScript AND TypeScript:
// `u32` constants only (engine-wasm/as-types.d.ts makes `u32` a number for TypeScript),
// no imports, no expressions that differ between the two languages.
//
// Layout of one machine's memory (byte offsets):
//   0x0000_0000  AssemblyScript static data (constant tables only; the core never allocates)
//   CTRL_BASE    machine control block: run flags, interrupt lines, I/O exit scratch
//   VCPU_BASE    per-vCPU blocks, VCPU_STRIDE apart: registers, then the software TLB,
//                then the vCPU's cache of translated code
//   JIT_PAGE_GEN one word per physical page: which pages translated code was made from
//   RAM_BASE     guest physical address 0 .. ramSize-1 (then, on a Xen-mode machine,
//                XEN_EXTRA_BYTES more backed memory for the platform device's BAR1)
//
// Bump MAP_VERSION whenever an offset or meaning changes (snapshots record it).

export const MAP_VERSION: u32 = 7;

export const WASM_PAGE: u32 = 65536;

// ---- machine control block (all i32 unless noted) --------------------------
export const CTRL_BASE: u32 = 0x100000;
export const CTRL_SIZE: u32 = 0x1000;
/** Host → vCPU requests, a bit mask (REQ_*). Set with Atomics.or, then Atomics.notify(CTRL_WAKE). */
export const CTRL_REQUEST: u32 = 0x00;
/** Futex word a halted vCPU waits on; incremented + notified by anyone who has news for it. */
export const CTRL_WAKE: u32 = 0x04;
/** Guest RAM size in bytes (set by the host before the first run). */
export const CTRL_RAM_SIZE: u32 = 0x08;
/** Number of vCPUs of this machine. */
export const CTRL_NR_VCPUS: u32 = 0x0c;
/** Memory-map version the host laid out (checked by the core at init). */
export const CTRL_MAP_VERSION: u32 = 0x10;
/** Console input ring (page → guest), single producer / single consumer. */
export const CTRL_IN_HEAD: u32 = 0x40; // written by the producer (page)
export const CTRL_IN_TAIL: u32 = 0x44; // written by the consumer (vCPU worker)
export const CTRL_IN_RING: u32 = 0x100; // bytes
export const CTRL_IN_RING_SIZE: u32 = 0x400; // power of two

/** Memory type of each 4 KiB page below 1 MiB (MEMT_*), one byte per page, set by the board. */
export const CTRL_LOWMEM_TYPE: u32 = 0x800; // 256 bytes
export const MEMT_RAM: u32 = 0;
export const MEMT_ROM: u32 = 1; // readable RAM, writes ignored
export const MEMT_MMIO: u32 = 2; // every access goes to the host

// SMP coordination (host only, except CTRL_TSC_MAX, which the core reads and writes).
/** u64: the largest TSC value any vCPU has read, so RDTSC never goes back between vCPUs. */
export const CTRL_TSC_MAX: u32 = 0x900;
/** 1 while the machine's vCPU threads may run; 0 parks them (stop, snapshot, reset). */
export const CTRL_SMP_RUN: u32 = 0x908;
/** Pacing across vCPU threads: 1 realtime, 0 fast; guest ns and host epoch ms at the last pacing origin (f64s). */
export const CTRL_SMP_PACING: u32 = 0x90c;
export const CTRL_SMP_GUEST0: u32 = 0x910;
export const CTRL_SMP_WALL0: u32 = 0x918;
/** One slot per vCPU (SLOT_*), SMP_SLOT_SIZE apart: run state, wake word, device requests. */
export const CTRL_SMP_SLOTS: u32 = 0xa00;
export const SMP_SLOT_SIZE: u32 = 0x40;
export const SLOT_WAKE: u32 = 0x00; // futex: bumped and notified when the vCPU has news
export const SLOT_RUNSTATE: u32 = 0x04; // RS_*
export const SLOT_REQ: u32 = 0x08; // futex: 0 idle, 1 a request waits for vCPU 0's thread, 2 answered
export const SLOT_KIND: u32 = 0x0c; // RQ_*
export const SLOT_ARGS: u32 = 0x10; // 4 × u32
export const SLOT_RESULT: u32 = 0x20; // i32
export const SLOT_PARKED: u32 = 0x24; // 1 while the vCPU thread is parked (not inside run())
export const SLOT_FLAGS: u32 = 0x28; // SF_*
export const SLOT_UNBLOCK: u32 = 0x2c; // bumped when a blocking hypercall of the vCPU ended (a Xen poll)
export const SLOT_DEADLINE: u32 = 0x30; // f64: the vCPU's next timer deadline (guest ns, Infinity: none)
export const SLOT_SLICE_END: u32 = 0x38; // f64: guest time at which the vCPU's current slice ends
export const RS_RUNNING: u32 = 1;
export const RS_HALTED: u32 = 2; // HLT: waits for an interrupt
export const RS_WAIT_SIPI: u32 = 3; // an application processor before its start-up IPI
export const SF_RESET: u32 = 1; // the vCPU thread resets its core (power-on) before it runs
export const RQ_IO_READ: u32 = 1;
export const RQ_IO_WRITE: u32 = 2;
export const RQ_MMIO_READ: u32 = 3;
export const RQ_MMIO_WRITE: u32 = 4;
export const RQ_INT_ACK: u32 = 5;
export const RQ_MSR: u32 = 6;
export const RQ_CPUID: u32 = 7;
export const RQ_HYPERCALL: u32 = 8;
export const RQ_TIMERS: u32 = 9; // the vCPU's guest time reached its deadline: fire its timers
export const RQ_TRIPLE_FAULT: u32 = 10; // the vCPU triple-faulted: the machine resets

export const REQ_STOP: u32 = 1; // leave the run loop and stay stopped
export const REQ_PAUSE: u32 = 2; // leave the run loop and wait for resume
export const REQ_INPUT: u32 = 4; // console input is waiting
export const REQ_RESET: u32 = 8; // reset the machine

/**
 * One byte per I/O port, 1 where a device claims the port (the board keeps it current): the
 * other vCPUs' threads answer accesses to unclaimed ports themselves (all ones, writes
 * ignored) instead of asking vCPU 0's thread.
 */
export const PORT_CLAIMS: u32 = 0x180000; // 64 KiB, between the control block and the vCPU blocks

// ---- per-vCPU block ---------------------------------------------------------
export const VCPU_BASE: u32 = 0x200000;
export const VCPU_STRIDE: u32 = 0x500000; // 64 KiB of state + a 4 MiB TLB (+ slack)
export const MAX_VCPUS: u32 = 8;

// General registers, in x86 encoding order (EAX ECX EDX EBX ESP EBP ESI EDI), 4 bytes each.
export const R_GPR: u32 = 0x000;
export const R_EIP: u32 = 0x020;
/** EFLAGS with the arithmetic flags (CF PF AF ZF SF OF) valid only where LF_MASK is clear. */
export const R_EFLAGS: u32 = 0x024;
// Lazy arithmetic flags: the last flag-setting operation, its operands and result.
export const R_LF_OP: u32 = 0x028; // LF_* operation kind
export const R_LF_RES: u32 = 0x02c; // result (sign-extended to 32 bits)
export const R_LF_A: u32 = 0x030; // first operand
export const R_LF_B: u32 = 0x034; // second operand (or carry-in for ADC/SBB, shift count for shifts)
export const R_LF_SIZE: u32 = 0x038; // operand size: 0 = 8, 1 = 16, 2 = 32 bits
export const R_LF_MASK: u32 = 0x03c; // which EFLAGS bits are lazy (computed from the fields above)

// Segment registers in encoding order ES CS SS DS FS GS, then LDTR (6) and TR (7).
// Each has a selector, the hidden descriptor cache (base, limit in bytes, access rights).
export const R_SEG_SEL: u32 = 0x040; // 8 × i32
export const R_SEG_BASE: u32 = 0x060; // 8 × i32
export const R_SEG_LIMIT: u32 = 0x080; // 8 × i32 (byte granular, already scaled by G)
/** Access rights: bits 0-7 the descriptor's access byte (type, S, DPL, P), bits 8-11 its flags nibble (AVL, L, D/B, G). */
export const R_SEG_ACC: u32 = 0x0a0; // 8 × i32
export const R_GDTR_BASE: u32 = 0x0c0;
export const R_GDTR_LIMIT: u32 = 0x0c4;
export const R_IDTR_BASE: u32 = 0x0c8;
export const R_IDTR_LIMIT: u32 = 0x0cc;
export const R_CR0: u32 = 0x0d0;
export const R_CR2: u32 = 0x0d4;
export const R_CR3: u32 = 0x0d8;
export const R_CR4: u32 = 0x0dc;
export const R_DR: u32 = 0x0e0; // DR0..DR7, 8 × i32
export const R_CPL: u32 = 0x100;
/** Mode bits (MODE_*), derived from CR0/EFLAGS/CS and kept current by the core. */
export const R_MODE: u32 = 0x104;
export const R_HALTED: u32 = 0x108; // 1 while in HLT
export const R_EXIT_REASON: u32 = 0x10c; // EXIT_* of the last run()
/** Retired instructions, 64-bit little-endian (low word first). The virtual clock is derived from it. */
export const R_ICOUNT: u32 = 0x110;
/** Interrupt shadow: 1 when the next instruction must not be interrupted (after STI, MOV SS, POP SS). */
export const R_INT_SHADOW: u32 = 0x118;
export const R_A20_MASK: u32 = 0x11c; // 0xFFFFFFFF or 0xFFEFFFFF
// MSRs
export const R_EFER: u32 = 0x120;
export const R_SYSENTER_CS: u32 = 0x124;
export const R_SYSENTER_ESP: u32 = 0x128;
export const R_SYSENTER_EIP: u32 = 0x12c;
export const R_TSC_OFFSET: u32 = 0x130; // i64: TSC = icount + offset
export const R_APIC_BASE: u32 = 0x138; // IA32_APIC_BASE (low 32 bits)
export const R_PAT: u32 = 0x140; // i64
export const R_MISC_ENABLE: u32 = 0x148;
export const R_XEN_MSR: u32 = 0x14c; // last value written to the Xen hypercall-page MSR
/** Guest cycles (R_ICOUNT + this run's retired instructions) as an f64, updated before every call into the host. */
export const R_NOW: u32 = 0x150;
/** Guest cycles that PAUSE took beyond one each (u64; R_ICOUNT includes them: it counts cycles). Since MAP_VERSION 6. */
export const R_PAUSE_CYCLES: u32 = 0x158;
/**
 * Instructions retired in translated code (u64; the JIT's share of R_ICOUNT). Since MAP_VERSION
 * 6. A statistic, not machine state: snapshots save it as 0 (they carry nothing of the JIT).
 */
export const R_JIT_RETIRED: u32 = 0x160;
// Derived segment checks (recomputed whenever a segment register is loaded): the valid
// offset range [LO, HI] and permission bits (SEGP_*).
export const R_SEG_LO: u32 = 0x180; // 8 × i32
export const R_SEG_HI: u32 = 0x1a0; // 8 × i32
export const R_SEG_PERM: u32 = 0x1c0; // 8 × i32
/** Event lines into this vCPU (PEND_*), set by devices and the host; checked before every instruction. */
export const R_PENDING: u32 = 0x1e0;
export const R_MTRR: u32 = 0x400; // 32 × i64 raw MTRR values (see the core's msr code for the index map)
export const R_VCPU_ID: u32 = 0x280;
/** Last exception delivered (for the inspector and tests): vector, error code, EIP. */
export const R_LAST_EXC: u32 = 0x284;
export const R_LAST_EXC_CODE: u32 = 0x288;
export const R_LAST_EXC_EIP: u32 = 0x28c;
export const R_EXC_COUNT: u32 = 0x290;

// x87 FPU state. 0x300-0x33F is unused (the data registers were doubles there up to MAP_VERSION 3).
/**
 * The eight data registers in the 80-bit double-extended format, physical order R0..R7, 16
 * bytes each: the 64-bit significand (explicit integer bit) at +0, the sign|exponent word
 * (u16, bias 16383) at +8, zero bytes at +10..+15.
 */
export const R_FPU_ST: u32 = 0x500;
export const FPU_ST_STRIDE: u32 = 16;
export const R_FPU_CW: u32 = 0x340;
export const R_FPU_SW: u32 = 0x344; // without TOP; TOP is kept apart
export const R_FPU_TOP: u32 = 0x348;
export const R_FPU_TAG: u32 = 0x34c; // full 16-bit tag word (2 bits per physical register)
export const R_FPU_IP: u32 = 0x350;
export const R_FPU_CS: u32 = 0x354;
export const R_FPU_DP: u32 = 0x358;
export const R_FPU_DS: u32 = 0x35c;
export const R_FPU_OPCODE: u32 = 0x360;
export const R_MXCSR: u32 = 0x364;

// I/O exit scratch (for exits the host services between run() calls).
export const R_EXIT_PORT: u32 = 0x380;
export const R_EXIT_SIZE: u32 = 0x384;
export const R_EXIT_VALUE: u32 = 0x388;

export const VCPU_STATE_SIZE: u32 = 0x10000;
/** Software TLB: one u32 per linear page (2^20 entries), in the format below. */
export const VCPU_TLB: u32 = 0x10000;
export const VCPU_TLB_SIZE: u32 = 0x400000;
// The TLB entry format (one u32 per linear page): bits 31-12 the guest-physical frame; low
// bits (the interpreter's mmu.ts and translated code both read them):
export const TLB_VALID: u32 = 1; // entry filled (supervisor reads allowed)
export const TLB_USER_R: u32 = 2; // CPL 3 may read
export const TLB_SUP_W: u32 = 4; // CPL 0-2 may write (and the dirty bit is already set)
export const TLB_USER_W: u32 = 8; // CPL 3 may write (dirty already set)
export const TLB_RAM: u32 = 16; // plain RAM: the fast path may touch it directly
export const TLB_GLOBAL: u32 = 32; // survives CR3 reloads (PGE)
export const TLB_NX: u32 = 64; // not executable
export const TLB_USER_X: u32 = 128; // CPL 3 may execute (set together with TLB_USER_R)
export const TLB_LARGE: u32 = 256; // filled from a 2 MiB or 4 MiB page (INVLPG drops all of that page)
/** Pages currently present in the TLB (u32 page numbers), so a flush clears only those. */
export const VCPU_TLB_LIST: u32 = 0x410000;
export const VCPU_TLB_LIST_MAX: u32 = 0x10000; // entries (256 KiB)
/**
 * The vCPU's cache of translated code (a cache, not machine state: cleared by init() and
 * refresh()): JIT_SETS sets of JIT_WAYS entries of JIT_ENTRY bytes, a set chosen by a hash
 * of the physical address of a block's first byte. Entry: +0 physical address, +4 EIP, +8
 * mode (JITM_*), +12 the table slot of the page's function (0: the entry is free), +16
 * (way 0 only) the way of the set used last, +20 the code page's JIT_PAGE_GEN word when
 * the block was translated, +24 unused (until 2026-12-08 a trial's counts), +28 the
 * block's index in the page's function.
 */
export const VCPU_JIT_CACHE: u32 = 0x450000;
/** The hash of a block's physical address: phys × JIT_HASH (mod 2^32); its top 12 bits pick the set, its top 14 the hot counter. */
export const JIT_HASH: u32 = 0x9e3779b1;
export const JIT_SETS: u32 = 4096;
export const JIT_WAYS: u32 = 4;
export const JIT_ENTRIES: u32 = JIT_SETS * JIT_WAYS; // 512 KiB
export const JIT_ENTRY: u32 = 32;
export const JIT_E_PHYS: u32 = 0;
export const JIT_E_EIP: u32 = 4;
export const JIT_E_MODE: u32 = 8;
export const JIT_E_FN: u32 = 12;
export const JIT_E_LRU: u32 = 16;
export const JIT_E_GEN: u32 = 20;
export const JIT_E_START: u32 = 28;
/**
 * How often blocks not yet translated have started: JIT_HOT_COUNTERS counters after the
 * cache, in pairs chosen by a hash of the block's physical address, each +0 the physical
 * address of the block it counts and +4 the count. A start of a block neither counter of its
 * pair counts takes one from the lower count, and that counter when it is at zero, so only
 * blocks that start more often than all but one other of their pair become hot. A block is
 * translated when its count reaches the threshold.
 */
export const VCPU_JIT_HOT: u32 = 0x4d0000;
export const JIT_HOT_COUNTERS: u32 = 16384; // 8 bytes each: 128 KiB, up to 0x4f0000 < VCPU_STRIDE
/**
 * Where a translated function that stopped at a block's start for want of budget (JIT_RESUME)
 * leaves the block the code goes on to by falling through: +0 its EIP, +4 its index in the
 * function. The interpreter runs the rest of the chunk and the block, and at that EIP the
 * core calls the function there again (a block start is entered with the flags in memory,
 * so nothing else is assumed). +8 the function's table slot, +12 the physical address and
 * +16 the JIT_PAGE_GEN word of the block it was entered at: the core writes them before a
 * call, translated code when it goes on to another function. Not machine state.
 */
export const VCPU_JIT_RESUME: u32 = 0x4f0000;
/**
 * Elements a REP string instruction moves in one step at most (more take several steps, with
 * an interrupt window between): the interpreter's and translated code's.
 */
export const REP_CHUNK: u32 = 0x4000;
/** JIT_E_FN of a block that cannot be translated (its first instruction is not supported). */
export const JIT_FN_NEVER: u32 = 0xffffffff;
/**
 * JIT_E_FN of a block being compiled (the host's jitCompile returned this: V8 compiles the
 * module on another thread): the interpreter runs it meanwhile. The host fills the entry in
 * (the slot and index) when the function is ready, or frees it if the code page was written.
 * The lower of the two (0xfffffffe, a block dropped after a trial, is no longer made): an
 * entry's JIT_E_FN at or above it names no function.
 */
export const JIT_FN_PENDING: u32 = 0xfffffffd;
export const JITM_USER: u32 = 1; // CPL 3: the block's memory accesses use the user TLB bits
/**
 * Set in the retired count a translated function returns when it stopped inside its code
 * (the chunk's budget, an access its fast path cannot do), not at a jump: the next EIP is no
 * block start to count (nor is a chunk's first instruction). Counting the places where a run
 * happened to stop would make blocks start in the middle of others.
 */
export const JIT_NOT_A_JUMP: u32 = 0x80000000;
/**
 * Set in the retired count (with JIT_NOT_A_JUMP) by a translated function that stopped before
 * an instruction it does not translate, and by the core's look-up (with 0 retired) at a block
 * whose first instruction is such (JIT_FN_NEVER): the interpreter runs that one instruction
 * and then looks for translated code right after it, as after a jump, instead of
 * interpreting on to the next jump.
 */
export const JIT_LOOK_AFTER: u32 = 0x40000000;
/** Set in the retired count (with JIT_NOT_A_JUMP) when the function left a block to resume at in VCPU_JIT_RESUME. */
export const JIT_RESUME: u32 = 0x20000000;
/** Every flag a translated function's (or jitEnter's) result may carry in its retired count. */
export const JIT_RESULT_FLAGS: u32 = JIT_NOT_A_JUMP | JIT_LOOK_AFTER | JIT_RESUME;

/**
 * One u32 per 4 KiB physical page of backed memory (shared by every vCPU and the host):
 * bit 0 is set while translated code exists for the page; bits 1-31 count the writes that
 * found bit 0 set. Whoever writes a page with bit 0 set (the core's physical write path, a
 * device's DMA through GuestMemory) adds 1, which clears bit 0 and makes every translation
 * of the page stale. The core strips the write bits from TLB entries of such pages, so
 * guest writes to them take the slow path that does this.
 */
export const JIT_PAGE_GEN: u32 = 0x2c00000;
export const JIT_PAGE_GEN_SIZE: u32 = 0x400000; // 2^20 pages: 4 GiB

// ---- guest RAM --------------------------------------------------------------
export const RAM_BASE: u32 = 0x4000000; // 64 MiB
/** Backed memory right above guest RAM on a Xen-mode machine: the platform device's BAR1 (16 MiB). */
export const XEN_EXTRA_BYTES: u32 = 0x1000000;

// SEGP_* bits of R_SEG_PERM
export const SEGP_READ: u32 = 1;
export const SEGP_WRITE: u32 = 2;
export const SEGP_EXEC: u32 = 4;
export const SEGP_BIG_READ: u32 = 8; // readable, expand-up, limit 4 GiB: no limit check needed
export const SEGP_BIG_WRITE: u32 = 16; // writable likewise

// PEND_* bits of R_PENDING
export const PEND_INTR: u32 = 1; // the interrupt controller asserts INTR
export const PEND_NMI: u32 = 2; // an NMI is latched
export const PEND_EXIT: u32 = 4; // the host wants run() to return soon (EXIT_REQUEST)
export const PEND_INIT: u32 = 8; // INIT IPI latched (SMP)
export const PEND_SIPI: u32 = 16; // startup IPI latched; vector in R_SIPI_VECTOR
export const PEND_TF: u32 = 32; // EFLAGS.TF is set: single-step traps are checked
export const PEND_DBG: u32 = 64; // DR7 enables a breakpoint: each instruction is checked (core-owned, like PEND_TF)
export const R_SIPI_VECTOR: u32 = 0x1e4;
/** 1 while an NMI handler runs (NMIs blocked until the next IRET). */
export const R_NMI_BLOCKED: u32 = 0x1e8;
/** CPUID feature switches set by the host/board (CPUIDF_*). */
export const R_CPUID_FLAGS: u32 = 0x1ec;
export const CPUIDF_APIC: u32 = 1; // a local APIC is present (CPUID.1:EDX.APIC)
export const CPUIDF_HYPERVISOR: u32 = 2; // report the hypervisor bit and leaves 0x40000000+ (answered by the host)
/** DR6 bits of a #DB trap deferred past a MOV SS / POP SS shadow (0: none); it fires after the next instruction. */
export const R_DEFERRED_DB: u32 = 0x1f0;

// MODE_* bits of R_MODE
export const MODE_PROT: u32 = 1; // CR0.PE
export const MODE_V86: u32 = 2; // EFLAGS.VM (with PE)
export const MODE_CODE32: u32 = 4; // CS.D: default operand/address size 32
export const MODE_STACK32: u32 = 8; // SS.B: ESP (not SP) is the stack pointer
export const MODE_PAGING: u32 = 16; // CR0.PG

// EXIT_* reasons returned by run()
export const EXIT_BUDGET: u32 = 0; // the instruction budget ran out
export const EXIT_HALT: u32 = 1; // HLT with interrupts enabled: wait for an interrupt
export const EXIT_STOPPED: u32 = 2; // HLT with interrupts disabled (nothing can wake it)
export const EXIT_REQUEST: u32 = 3; // the host asked (CTRL_REQUEST)
export const EXIT_TRIPLE_FAULT: u32 = 4; // shutdown: the board resets the machine
export const EXIT_IO: u32 = 5; // the host wants to act now (e.g. port 0xF4 exit, a reset request)
