// The shared WebAssembly.Memory map: every offset that both the AssemblyScript core
// and the TypeScript host use. This file must stay valid AssemblyScript AND TypeScript:
// untyped integer constants only (each fits in i32), no imports, no expressions that
// differ between the two languages.
//
// Layout of one machine's memory (byte offsets):
//   0x0000_0000  AssemblyScript static data (constant tables only; the core never allocates)
//   CTRL_BASE    machine control block: run flags, interrupt lines, I/O exit scratch
//   VCPU_BASE    per-vCPU blocks, VCPU_STRIDE apart: registers, then the software TLB
//   RAM_BASE     guest physical address 0 .. ramSize-1
//
// Bump MAP_VERSION whenever an offset or meaning changes (snapshots record it).

export const MAP_VERSION = 1;

export const WASM_PAGE = 65536;

// ---- machine control block (all i32 unless noted) --------------------------
export const CTRL_BASE = 0x100000;
export const CTRL_SIZE = 0x1000;
/** Host → vCPU requests, a bit mask (REQ_*). Set with Atomics.or, then Atomics.notify(CTRL_WAKE). */
export const CTRL_REQUEST = 0x00;
/** Futex word a halted vCPU waits on; incremented + notified by anyone who has news for it. */
export const CTRL_WAKE = 0x04;
/** Guest RAM size in bytes (set by the host before the first run). */
export const CTRL_RAM_SIZE = 0x08;
/** Number of vCPUs of this machine. */
export const CTRL_NR_VCPUS = 0x0c;
/** Memory-map version the host laid out (checked by the core at init). */
export const CTRL_MAP_VERSION = 0x10;
/** Console input ring (page → guest), single producer / single consumer. */
export const CTRL_IN_HEAD = 0x40; // written by the producer (page)
export const CTRL_IN_TAIL = 0x44; // written by the consumer (vCPU worker)
export const CTRL_IN_RING = 0x100; // bytes
export const CTRL_IN_RING_SIZE = 0x400; // power of two

export const REQ_STOP = 1; // leave the run loop and stay stopped
export const REQ_PAUSE = 2; // leave the run loop and wait for resume
export const REQ_INPUT = 4; // console input is waiting
export const REQ_RESET = 8; // reset the machine

// ---- per-vCPU block ---------------------------------------------------------
export const VCPU_BASE = 0x200000;
export const VCPU_STRIDE = 0x500000; // 64 KiB of state + a 4 MiB TLB (+ slack)
export const MAX_VCPUS = 8;

// General registers, in x86 encoding order (EAX ECX EDX EBX ESP EBP ESI EDI), 4 bytes each.
export const R_GPR = 0x000;
export const R_EIP = 0x020;
/** EFLAGS with the arithmetic flags (CF PF AF ZF SF OF) valid only where LF_MASK is clear. */
export const R_EFLAGS = 0x024;
// Lazy arithmetic flags: the last flag-setting operation, its operands and result.
export const R_LF_OP = 0x028; // LF_* operation kind
export const R_LF_RES = 0x02c; // result (sign-extended to 32 bits)
export const R_LF_A = 0x030; // first operand
export const R_LF_B = 0x034; // second operand (or carry-in for ADC/SBB, shift count for shifts)
export const R_LF_SIZE = 0x038; // operand size: 0 = 8, 1 = 16, 2 = 32 bits
export const R_LF_MASK = 0x03c; // which EFLAGS bits are lazy (computed from the fields above)

// Segment registers in encoding order ES CS SS DS FS GS, then LDTR (6) and TR (7).
// Each has a selector, the hidden descriptor cache (base, limit in bytes, access rights).
export const R_SEG_SEL = 0x040; // 8 × i32
export const R_SEG_BASE = 0x060; // 8 × i32
export const R_SEG_LIMIT = 0x080; // 8 × i32 (byte granular, already scaled by G)
/** Access rights: bits 0-7 the descriptor's access byte (type, S, DPL, P), bits 8-11 its flags nibble (AVL, L, D/B, G). */
export const R_SEG_ACC = 0x0a0; // 8 × i32
export const R_GDTR_BASE = 0x0c0;
export const R_GDTR_LIMIT = 0x0c4;
export const R_IDTR_BASE = 0x0c8;
export const R_IDTR_LIMIT = 0x0cc;
export const R_CR0 = 0x0d0;
export const R_CR2 = 0x0d4;
export const R_CR3 = 0x0d8;
export const R_CR4 = 0x0dc;
export const R_DR = 0x0e0; // DR0..DR7, 8 × i32
export const R_CPL = 0x100;
/** Mode bits (MODE_*), derived from CR0/EFLAGS/CS and kept current by the core. */
export const R_MODE = 0x104;
export const R_HALTED = 0x108; // 1 while in HLT
export const R_EXIT_REASON = 0x10c; // EXIT_* of the last run()
/** Retired instructions, 64-bit little-endian (low word first). The virtual clock is derived from it. */
export const R_ICOUNT = 0x110;
/** Interrupt shadow: 1 when the next instruction must not be interrupted (after STI, MOV SS, POP SS). */
export const R_INT_SHADOW = 0x118;
export const R_A20_MASK = 0x11c; // 0xFFFFFFFF or 0xFFEFFFFF
// MSRs
export const R_EFER = 0x120;
export const R_SYSENTER_CS = 0x124;
export const R_SYSENTER_ESP = 0x128;
export const R_SYSENTER_EIP = 0x12c;
export const R_TSC_OFFSET = 0x130; // i64: TSC = icount + offset
export const R_APIC_BASE = 0x138; // IA32_APIC_BASE (low 32 bits)
export const R_PAT = 0x140; // i64
export const R_MISC_ENABLE = 0x148;
export const R_XEN_MSR = 0x14c; // last value written to the Xen hypercall-page MSR
export const R_MTRR = 0x180; // MTRRcap..: 32 × i64 raw MTRR values (see core for the index map)
export const R_VCPU_ID = 0x280;
/** Last exception delivered (for the inspector and tests): vector, error code, EIP. */
export const R_LAST_EXC = 0x284;
export const R_LAST_EXC_CODE = 0x288;
export const R_LAST_EXC_EIP = 0x28c;
export const R_EXC_COUNT = 0x290;

// x87 FPU state. Registers are IEEE doubles (64-bit): see the core's notes on precision.
export const R_FPU_ST = 0x300; // 8 × f64, physical register order R0..R7
export const R_FPU_CW = 0x340;
export const R_FPU_SW = 0x344; // without TOP; TOP is kept apart
export const R_FPU_TOP = 0x348;
export const R_FPU_TAG = 0x34c; // full 16-bit tag word (2 bits per physical register)
export const R_FPU_IP = 0x350;
export const R_FPU_CS = 0x354;
export const R_FPU_DP = 0x358;
export const R_FPU_DS = 0x35c;
export const R_FPU_OPCODE = 0x360;
export const R_MXCSR = 0x364;

// I/O exit scratch (for exits the host services between run() calls).
export const R_EXIT_PORT = 0x380;
export const R_EXIT_SIZE = 0x384;
export const R_EXIT_VALUE = 0x388;

export const VCPU_STATE_SIZE = 0x10000;
/** Software TLB: one u32 per linear page (2^20 entries), see the core's mmu for the entry format. */
export const VCPU_TLB = 0x10000;
export const VCPU_TLB_SIZE = 0x400000;
/** Pages currently present in the TLB (u32 page numbers), so a flush clears only those. */
export const VCPU_TLB_LIST = 0x410000;
export const VCPU_TLB_LIST_MAX = 0x10000; // entries (256 KiB)

// ---- guest RAM --------------------------------------------------------------
export const RAM_BASE = 0x4000000; // 64 MiB

// MODE_* bits of R_MODE
export const MODE_PROT = 1; // CR0.PE
export const MODE_V86 = 2; // EFLAGS.VM (with PE)
export const MODE_CODE32 = 4; // CS.D: default operand/address size 32
export const MODE_STACK32 = 8; // SS.B: ESP (not SP) is the stack pointer
export const MODE_PAGING = 16; // CR0.PG

// EXIT_* reasons returned by run()
export const EXIT_BUDGET = 0; // the instruction budget ran out
export const EXIT_HALT = 1; // HLT with interrupts enabled: wait for an interrupt
export const EXIT_STOPPED = 2; // HLT with interrupts disabled (nothing can wake it)
export const EXIT_REQUEST = 3; // the host asked (CTRL_REQUEST)
export const EXIT_TRIPLE_FAULT = 4; // shutdown: the board resets the machine
export const EXIT_IO = 5; // the host wants to act now (e.g. port 0xF4 exit, a reset request)
