// Xen's CPUID leaves (spec §2) and the hypercall page written through the hypercall MSR
// (spec §3.2). Leaves sit at base 0x40000000 (no Viridian leaves in front of them).

import {
  XEN_CPUID_FIRST_LEAF,
  XEN_CPUID_SIGNATURE_EBX,
  XEN_CPUID_SIGNATURE_ECX,
  XEN_CPUID_SIGNATURE_EDX,
  XEN_HVM_CPUID_DOMID_PRESENT,
  XEN_HVM_CPUID_VCPU_ID_PRESENT,
  XEN_HYPERCALL_MSR,
  __HYPERVISOR_iret,
  PAGE_SIZE,
} from './xen-public';

export interface CpuidResult {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** Version reported by leaf base+1 and XENVER_version: 4.17. */
export const XEN_MAJOR = 4;
export const XEN_MINOR = 17;
export const XEN_VERSION = (XEN_MAJOR << 16) | XEN_MINOR;

/** Highest Xen leaf. Linux reads base+4 without checking this, so base+4 is implemented. */
const XEN_CPUID_MAX_LEAF = XEN_CPUID_FIRST_LEAF + 4;

/**
 * The Xen leaf `leaf` for vCPU `vcpu` of domain `domid`, or null when `leaf` is not one of
 * ours (the core then answers as for any unknown leaf). Sub-leaf matters only for base+3.
 */
export function xenCpuid(leaf: number, _subleaf: number, vcpu: number, domid: number): CpuidResult | null {
  leaf >>>= 0;
  // Xen answers in the whole 0x40000000..0x400000FF block; leaves past the max are zero.
  if (leaf < XEN_CPUID_FIRST_LEAF || leaf > XEN_CPUID_FIRST_LEAF + 0xff) return null;
  switch (leaf - XEN_CPUID_FIRST_LEAF) {
    case 0:
      return { eax: XEN_CPUID_MAX_LEAF, ebx: XEN_CPUID_SIGNATURE_EBX, ecx: XEN_CPUID_SIGNATURE_ECX, edx: XEN_CPUID_SIGNATURE_EDX };
    case 1:
      return { eax: XEN_VERSION, ebx: 0, ecx: 0, edx: 0 };
    case 2:
      // One hypercall page, installed by writing its address to MSR 0x40000000; no PV-only features.
      return { eax: 1, ebx: XEN_HYPERCALL_MSR, ecx: 0, edx: 0 };
    case 3:
      // TSC leaves: all zero is an accepted answer (native TSC, no scaling information).
      return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    case 4:
      // vCPU id and domid present. UPCALL_VECTOR (bit 6) stays clear so Linux uses CALLBACK_IRQ.
      return { eax: XEN_HVM_CPUID_VCPU_ID_PRESENT | XEN_HVM_CPUID_DOMID_PRESENT, ebx: vcpu >>> 0, ecx: domid & 0xffff, edx: 0 };
    default:
      return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  }
}

export type CpuVendor = 'intel' | 'amd';

const VMCALL = [0x0f, 0x01, 0xc1];
const VMMCALL = [0x0f, 0x01, 0xd9];
const HYPERCALL_STUB_SIZE = 32;

/**
 * Fill a 4 KiB hypercall page: 128 stubs of 32 bytes, stub i = `mov eax, i; vmcall; ret`
 * (VMMCALL on AMD), the rest 0xCC; stub 23 (iret, PV only) is `ud2`.
 */
export function fillHypercallPage(page: Uint8Array, vendor: CpuVendor): void {
  if (page.length !== PAGE_SIZE) throw new RangeError(`hypercall page must be ${PAGE_SIZE} bytes, got ${page.length}`);
  page.fill(0xcc);
  const call = vendor === 'amd' ? VMMCALL : VMCALL;
  for (let i = 0; i < PAGE_SIZE / HYPERCALL_STUB_SIZE; i++) {
    const p = i * HYPERCALL_STUB_SIZE;
    if (i === __HYPERVISOR_iret) {
      page[p] = 0x0f;
      page[p + 1] = 0x0b;
      continue;
    }
    page[p] = 0xb8; // mov eax, imm32
    page[p + 1] = i & 0xff;
    page[p + 2] = (i >>> 8) & 0xff;
    page[p + 3] = 0;
    page[p + 4] = 0;
    page[p + 5] = call[0];
    page[p + 6] = call[1];
    page[p + 7] = call[2];
    page[p + 8] = 0xc3; // ret
  }
}
