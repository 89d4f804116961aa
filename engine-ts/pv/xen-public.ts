// Numbers from Xen's public ABI (xen/include/public/**), spelled as Xen spells them.
// Only facts live here (values, offsets, sizes); behaviour lives in the modules that use them.
// Offsets are for the x86_32 ("i386", Xen "compat") layout unless a name says _X86_64:
// our guest is a 32-bit HVM Linux, which uses that layout everywhere (spec §5).

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;

// ---- errno values returned (negated) by hypercalls (spec §3.1) ----------------
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ENOSYS = 38;
export const ETIME = 62;

// ---- hypercall numbers (xen.h) -------------------------------------------------
export const __HYPERVISOR_memory_op = 12;
export const __HYPERVISOR_xen_version = 17;
export const __HYPERVISOR_console_io = 18;
export const __HYPERVISOR_grant_table_op = 20;
export const __HYPERVISOR_iret = 23;
export const __HYPERVISOR_vcpu_op = 24;
export const __HYPERVISOR_sched_op = 29;
export const __HYPERVISOR_event_channel_op = 32;
export const __HYPERVISOR_physdev_op = 33;
export const __HYPERVISOR_hvm_op = 34;

// ---- domain ids ------------------------------------------------------------------
export const DOMID_FIRST_RESERVED = 0x7ff0;
export const DOMID_SELF = 0x7ff0;
export const DOMID_IO = 0x7ff1;
export const DOMID_XEN = 0x7ff2;
export const DOMID_INVALID = 0x7ff4;
/** The domain the TypeScript backends and xenstored live in. */
export const DOMID_DOM0 = 0;

// ---- CPUID (arch-x86/cpuid.h) ----------------------------------------------------
export const XEN_CPUID_FIRST_LEAF = 0x40000000;
export const XEN_CPUID_SIGNATURE_EBX = 0x566e6558; // "XenV"
export const XEN_CPUID_SIGNATURE_ECX = 0x65584d4d; // "MMXe"
export const XEN_CPUID_SIGNATURE_EDX = 0x4d4d566e; // "nVMM"
export const XEN_HVM_CPUID_APIC_ACCESS_VIRT = 1 << 0;
export const XEN_HVM_CPUID_X2APIC_VIRT = 1 << 1;
export const XEN_HVM_CPUID_IOMMU_MAPPINGS = 1 << 2;
export const XEN_HVM_CPUID_VCPU_ID_PRESENT = 1 << 3;
export const XEN_HVM_CPUID_DOMID_PRESENT = 1 << 4;
/** The MSR a guest writes to get a hypercall page (leaf base+2 EBX). */
export const XEN_HYPERCALL_MSR = 0x40000000;

// ---- xen_version (version.h, features.h) -----------------------------------------
export const XENVER_version = 0;
export const XENVER_extraversion = 1;
export const XENVER_compile_info = 2;
export const XENVER_capabilities = 3;
export const XENVER_changeset = 4;
export const XENVER_platform_parameters = 5;
export const XENVER_get_features = 6;
export const XENVER_pagesize = 7;
export const XENVER_guest_handle = 8;
export const XENVER_commandline = 9;

export const XENFEAT_writable_page_tables = 0;
export const XENFEAT_auto_translated_physmap = 2;
export const XENFEAT_hvm_callback_vector = 8;
export const XENFEAT_hvm_safe_pvclock = 9;

// ---- memory_op (memory.h) -----------------------------------------------------------
export const XENMEM_increase_reservation = 0;
export const XENMEM_decrease_reservation = 1;
export const XENMEM_maximum_ram_page = 2;
export const XENMEM_current_reservation = 3;
export const XENMEM_maximum_reservation = 4;
export const XENMEM_populate_physmap = 6;
export const XENMEM_add_to_physmap = 7;
export const XENMEM_memory_map = 9;
export const XENMEM_maximum_gpfn = 14;
export const XENMEM_remove_from_physmap = 15;
export const XENMEM_add_to_physmap_batch = 23;

export const XENMAPSPACE_shared_info = 0;
export const XENMAPSPACE_grant_table = 1;
export const XENMAPSPACE_gmfn = 2;
/** Grant-table idx flag selecting a v2 status frame. */
export const XENMAPIDX_grant_table_status = 0x80000000;

// ---- hvm_op (hvm/hvm_op.h, hvm/params.h) --------------------------------------------
export const HVMOP_set_param = 0;
export const HVMOP_get_param = 1;
export const HVMOP_flush_tlbs = 5;
export const HVMOP_pagetable_dying = 9;
export const HVMOP_get_time = 10;
export const HVMOP_set_evtchn_upcall_vector = 23;

export const HVM_PARAM_CALLBACK_IRQ = 0;
export const HVM_PARAM_STORE_PFN = 1;
export const HVM_PARAM_STORE_EVTCHN = 2;
export const HVM_PARAM_PAE_ENABLED = 4;
export const HVM_PARAM_TIMER_MODE = 10;
export const HVM_PARAM_ACPI_S_STATE = 14;
export const HVM_PARAM_VM86_TSS = 15;
export const HVM_PARAM_CONSOLE_PFN = 17;
export const HVM_PARAM_CONSOLE_EVTCHN = 18;
export const HVM_PARAM_ACPI_IOPORTS_LOCATION = 19;
export const HVM_PARAM_X87_FIP_WIDTH = 36;
export const HVM_PARAM_VM86_TSS_SIZED = 37;
export const HVM_NR_PARAMS = 39;

// CALLBACK_IRQ "via" types (value bits 63:56).
export const HVM_PARAM_CALLBACK_TYPE_GSI = 0;
export const HVM_PARAM_CALLBACK_TYPE_PCI_INTX = 1;
export const HVM_PARAM_CALLBACK_TYPE_VECTOR = 2;

// ---- sched_op (sched.h) -----------------------------------------------------------------
export const SCHEDOP_yield = 0;
export const SCHEDOP_block = 1;
export const SCHEDOP_shutdown = 2;
export const SCHEDOP_poll = 3;
export const SCHEDOP_remote_shutdown = 4;
export const SCHEDOP_shutdown_code = 5;
export const SCHEDOP_watchdog = 6;
export const SCHEDOP_pin_override = 7;

export const SHUTDOWN_poweroff = 0;
export const SHUTDOWN_reboot = 1;
export const SHUTDOWN_suspend = 2;
export const SHUTDOWN_crash = 3;
export const SHUTDOWN_watchdog = 4;
export const SHUTDOWN_soft_reset = 5;
export const SHUTDOWN_MAX = 5;

// ---- vcpu_op (vcpu.h) ---------------------------------------------------------------------
export const VCPUOP_initialise = 0;
export const VCPUOP_up = 1;
export const VCPUOP_down = 2;
export const VCPUOP_is_up = 3;
export const VCPUOP_set_periodic_timer = 6;
export const VCPUOP_stop_periodic_timer = 7;
export const VCPUOP_set_singleshot_timer = 8;
export const VCPUOP_stop_singleshot_timer = 9;
export const VCPUOP_register_vcpu_info = 10;
/** set_singleshot_timer flags: fail with -ETIME if the deadline has passed. */
export const VCPU_SSHOTTMR_future = 1;

// ---- console_io (xen.h) ---------------------------------------------------------------------
export const CONSOLEIO_write = 0;
export const CONSOLEIO_read = 1;

// ---- event channels (event_channel.h) -------------------------------------------------------
export const EVTCHNOP_bind_interdomain = 0;
export const EVTCHNOP_bind_virq = 1;
export const EVTCHNOP_bind_pirq = 2;
export const EVTCHNOP_close = 3;
export const EVTCHNOP_send = 4;
export const EVTCHNOP_status = 5;
export const EVTCHNOP_alloc_unbound = 6;
export const EVTCHNOP_bind_ipi = 7;
export const EVTCHNOP_bind_vcpu = 8;
export const EVTCHNOP_unmask = 9;
export const EVTCHNOP_reset = 10;
export const EVTCHNOP_init_control = 11;
export const EVTCHNOP_expand_array = 12;
export const EVTCHNOP_set_priority = 13;
export const EVTCHNOP_reset_cont = 14;

// EVTCHNOP_status values.
export const EVTCHNSTAT_closed = 0;
export const EVTCHNSTAT_unbound = 1;
export const EVTCHNSTAT_interdomain = 2;
export const EVTCHNSTAT_pirq = 3;
export const EVTCHNSTAT_virq = 4;
export const EVTCHNSTAT_ipi = 5;

/** 2-level ABI port count for a 32-bit guest: bits(xen_ulong)^2. */
export const EVTCHN_2L_NR_CHANNELS = 1024;
export const NR_VIRQS = 24;
export const VIRQ_TIMER = 0;
export const VIRQ_DEBUG = 1;
export const VIRQ_CONSOLE = 2;
/** VIRQs bound per vCPU (the rest are global and bound on vCPU 0). */
export const VIRQ_IS_PER_VCPU = (virq: number): boolean => virq === VIRQ_TIMER || virq === VIRQ_DEBUG || virq === 6 /* DEBUGGER */ || virq === 7 /* XENOPROF */ || virq === 13 /* XENPMU */;

// ---- shared_info / vcpu_info, i386 layout (spec §5) ----------------------------------------
export const XEN_LEGACY_MAX_VCPUS = 32;
export const VCPU_INFO_SIZE = 64;
export const VCPUINFO_evtchn_upcall_pending = 0; // u8
export const VCPUINFO_evtchn_upcall_mask = 1; // u8
export const VCPUINFO_evtchn_pending_sel = 4; // u32 (xen_ulong_t)
export const VCPUINFO_time = 32; // struct vcpu_time_info, 32 bytes
// struct vcpu_time_info (same in both layouts)
export const VTI_version = 0; // u32
export const VTI_tsc_timestamp = 8; // u64
export const VTI_system_time = 16; // u64, ns
export const VTI_tsc_to_system_mul = 24; // u32
export const VTI_tsc_shift = 28; // i8
export const VTI_flags = 29; // u8
export const XEN_PVCLOCK_TSC_STABLE_BIT = 1;

export const SHINFO_evtchn_pending = 0x800; // 32 x u32
export const SHINFO_evtchn_mask = 0x880; // 32 x u32
export const SHINFO_wc_version = 0x900; // u32
export const SHINFO_wc_sec = 0x904; // u32
export const SHINFO_wc_nsec = 0x908; // u32
export const SHINFO_arch_max_pfn = 0x90c; // u32
export const SHINFO_wc_sec_hi = 0x924; // u32 (arch.wc_sec_hi on i386)
export const SHINFO_SIZE = 0x928;

// ---- grant tables (grant_table.h) -----------------------------------------------------------
export const GNTTABOP_map_grant_ref = 0;
export const GNTTABOP_unmap_grant_ref = 1;
export const GNTTABOP_setup_table = 2;
export const GNTTABOP_dump_table = 3;
export const GNTTABOP_transfer = 4;
export const GNTTABOP_copy = 5;
export const GNTTABOP_query_size = 6;
export const GNTTABOP_unmap_and_replace = 7;
export const GNTTABOP_set_version = 8;
export const GNTTABOP_get_status_frames = 9;
export const GNTTABOP_get_version = 10;

/** grant_entry_v1: u16 flags @0, u16 domid @2, u32 frame @4. */
export const GRANT_ENTRY_V1_SIZE = 8;
export const GRANT_ENTRIES_PER_FRAME = PAGE_SIZE / GRANT_ENTRY_V1_SIZE;
export const GTF_invalid = 0;
export const GTF_permit_access = 1;
export const GTF_accept_transfer = 2;
export const GTF_transitive = 3;
export const GTF_type_mask = 3;
export const GTF_readonly = 1 << 2;
export const GTF_reading = 1 << 3;
export const GTF_writing = 1 << 4;

export const GNTST_okay = 0;
export const GNTST_general_error = -1;
export const GNTST_bad_domain = -2;
export const GNTST_bad_gntref = -3;
export const GNTST_bad_handle = -4;
export const GNTST_bad_virt_addr = -5;
export const GNTST_bad_dev_addr = -6;
export const GNTST_no_device_space = -7;
export const GNTST_permission_denied = -8;
export const GNTST_bad_page = -9;
export const GNTST_bad_copy_arg = -10;
export const GNTST_address_too_big = -11;
export const GNTST_eagain = -12;

export const GNTCOPY_source_gref = 1 << 0;
export const GNTCOPY_dest_gref = 1 << 1;

// ---- xenbus states (io/xenbus.h) --------------------------------------------------------------
export enum XenbusState {
  Unknown = 0,
  Initialising = 1,
  InitWait = 2,
  Initialised = 3,
  Connected = 4,
  Closing = 5,
  Closed = 6,
  Reconfiguring = 7,
  Reconfigured = 8,
}
