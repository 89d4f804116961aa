; paging: 2-level 4 KiB paging, PSE 4 MiB pages, PAE with 2 MiB and 4 KiB pages, NX,
; accessed/dirty bits, CR0.WP, U/S and R/W, #PF error codes and CR2, INVLPG, global
; pages (CR4.PGE) across a CR3 reload.
%include "lib.inc"

test_name: db "paging", 0
banner:    db "pvlab cpu-tests: paging", 10, 0

PD      equ SCRATCH                 ; 2-level page directory
PT0     equ SCRATCH + 0x1000        ; 0..4 MiB identity
PT1     equ SCRATCH + 0x2000        ; 4..8 MiB identity
PTW     equ SCRATCH + 0x3000        ; 8..12 MiB: test window
P1      equ SCRATCH + 0x10000       ; test page 1 (marker 0x11111111)
P2      equ SCRATCH + 0x11000       ; test page 2 (marker 0x22222222)
P3      equ SCRATCH + 0x12000       ; code page for fetch tests
TV      equ 0x800000                ; test virtual address (PTW[0])
TV2     equ 0x801000                ; PTW[1]
BIG     equ 0xC00000                ; PD[3]: 4 MiB page

PDPT    equ SCRATCH + 0x20000       ; PAE
PAE_PD  equ SCRATCH + 0x21000
PAE_PT  equ SCRATCH + 0x22000
PAE_2M  equ 0x1000000               ; PAE_PD[8]: 2 MiB page -> physical 0x200000
PAE_TV  equ 0x1200000               ; PAE_PD[9] -> PAE_PT[0]

PG_P    equ 1
PG_RW   equ 2
PG_US   equ 4
PG_A    equ 0x20
PG_D    equ 0x40
PG_PS   equ 0x80
PG_G    equ 0x100
URW     equ PG_P | PG_RW | PG_US

%define PTE_W(va) (PTW + (((va) >> 12) & 0x3FF) * 4)

%macro SET_PTE 2        ; va in window, value
        mov     dword [PTE_W(%1)], %2
        invlpg  [%1]
%endmacro

; ring 3 cannot INVLPG: a DPL3 gate does it for the tests (eax = address)
INVLPG_VEC equ 0x71
%macro UINVLPG 1
        push    eax
        mov     eax, %1
        int     INVLPG_VEC
        pop     eax
%endmacro
%macro SET_PTE_U 2
        mov     dword [PTE_W(%1)], %2
        UINVLPG %1
%endmacro
hook_invlpg:
        mov     eax, [ebp + F_EAX]
        invlpg  [eax]
        ret

; PF name, instruction, error code, cr2
%macro PF 4
        EXPECT_FAULT %%r
        %2
%%r:    CHECK_FAULT %1, 14, %3
        CHECK_EQ {%1, ": CR2"}, [last_cr2], %4
%endmacro
;  PF_RSVD: a reserved-bit #PF. The SDM says such an error code always has P=1; QEMU
;  reports P=0, so with the command-line word rsvd-no-p the P bit is reported as SKIP.
%macro PF_RSVD 4
        EXPECT_FAULT %%r
        %2
%%r:    CHECK_FAULT {%1, " (vector)"}, 14, -1
        CHECK_EQ {%1, ": CR2"}, [last_cr2], %4
        mov     eax, [last_err]
        and     eax, ~1
        CHECK_EQ {%1, ": error code without P"}, eax, (%3) & ~1
        IF_WORD "rsvd-no-p", %%skip
        mov     eax, [last_err]
        and     eax, 1
        CHECK_EQ {%1, ": P=1"}, eax, 1
        jmp     %%done
%%skip: SKIP    {%1, ": P bit"}, "command line has rsvd-no-p (QEMU reports P=0)"
%%done:
%endmacro

%macro NOPF 2
        EXPECT_FAULT %%r
        %2
%%r:    CHECK_NOFAULT %1
%endmacro

test_main:
        mov     dword [P1], 0x11111111
        mov     dword [P2], 0x22222222
        ; P3: mov eax, 0x600DC0DE ; jmp ecx
        mov     byte [P3], 0xB8
        mov     dword [P3 + 1], 0x600DC0DE
        mov     word [P3 + 5], 0xE1FF
        call    build_2level
        mov     eax, PD
        mov     cr3, eax
        mov     eax, cr0
        or      eax, 0x80000000
        mov     cr0, eax
        jmp     .pg
.pg:    CHECK_EQ "paging on: identity-mapped code keeps running", [P1], 0x11111111
        HOOK    INVLPG_VEC, hook_invlpg
        IDT_GATE INVLPG_VEC, [isr_table + INVLPG_VEC*4], KCODE, 0xEE
        call    t_basic
        call    t_access_dirty
        call    t_faults
        call    t_wp
        RUN_USER u_user
        call    t_pse
        call    t_pge
        call    paging_off
        call    t_pae
        call    paging_off
        ret

paging_off:
        mov     eax, cr0
        and     eax, 0x7FFFFFFF
        mov     cr0, eax
        mov     eax, cr4
        and     eax, ~(0x10 | 0x20 | 0x80)      ; PSE, PAE, PGE
        mov     cr4, eax
        ret

build_2level:
        mov     edi, PD
        mov     ecx, 0x4000 / 4
        xor     eax, eax
        rep stosd
        mov     dword [PD + 0*4], PT0 | URW
        mov     dword [PD + 1*4], PT1 | URW
        mov     dword [PD + 2*4], PTW | URW
        mov     edi, PT0
        mov     eax, URW
        mov     ecx, 2048
.l:     stosd
        add     eax, 0x1000
        loop    .l
        ret

; ---- mapping and INVLPG ----
t_basic:
        SET_PTE TV, P1 | URW
        CHECK_EQ "4K page: TV maps P1", [TV], 0x11111111
        SET_PTE TV, P2 | URW
        CHECK_EQ "after PTE change + INVLPG: TV maps P2", [TV], 0x22222222
        SET_PTE TV2, P1 | URW
        mov     dword [TV2 + 4], 0xA5A5A5A5
        CHECK_EQ "write through an alias lands in the physical page", [P1 + 4], 0xA5A5A5A5
        ; a stale TLB entry lives until INVLPG (the CPU may drop it earlier, so we
        ; only check the new mapping after INVLPG)
        mov     eax, [TV2]
        mov     dword [PTE_W(TV2)], P2 | URW
        invlpg  [TV2]
        CHECK_EQ "INVLPG drops the cached translation", [TV2], 0x22222222
        ; the rest of a page: offsets are kept
        SET_PTE TV, P1 | URW
        CHECK_EQ "offset inside the page kept", [TV + 4], 0xA5A5A5A5
        ret

; ---- accessed and dirty bits ----
t_access_dirty:
        and     dword [PD + 2*4], ~PG_A
        SET_PTE TV, P1 | URW
        mov     eax, [TV]
        mov     eax, [PTE_W(TV)]
        and     eax, PG_A | PG_D
        CHECK_EQ "read sets A, not D, in the PTE", eax, PG_A
        mov     eax, [PD + 2*4]
        and     eax, PG_A
        CHECK_EQ "read sets A in the PDE", eax, PG_A
        mov     dword [TV + 8], 1
        mov     eax, [PTE_W(TV)]
        and     eax, PG_A | PG_D
        CHECK_EQ "write sets D in the PTE", eax, PG_A | PG_D
        mov     eax, [PD + 2*4]
        and     eax, PG_D
        CHECK_EQ "PDE of a 4K page table gets no D bit", eax, 0
        ; a write to a page first seen by a read (TLB entry without D) still sets D
        SET_PTE TV, P1 | URW
        mov     eax, [TV]
        mov     dword [TV + 8], 2
        mov     eax, [PTE_W(TV)]
        and     eax, PG_A | PG_D
        CHECK_EQ "write after read (cached clean entry) sets D", eax, PG_A | PG_D
        ret

; ---- #PF error codes at ring 0 ----
t_faults:
        SET_PTE TV, P1 | PG_RW | PG_US
        SET_PTE TV, P1                          ; P=0: use a value with P clear
        mov     dword [PTE_W(TV)], P1 & ~1
        invlpg  [TV]
        PF      "read not-present: #PF(0)", {mov eax, [TV]}, 0, TV
        PF      "write not-present: #PF(W)", {mov dword [TV], 0}, 2, TV
        PF      "CR2 is the faulting byte, not the page", {mov eax, [TV + 0x123]}, 0, TV + 0x123
        mov     dword [PD + 3*4], 0
        PF      "not-present PDE: #PF(0)", {mov eax, [BIG + 8]}, 0, BIG + 8
        ; a dword straddling into a not-present page: CR2 is the first byte there
        SET_PTE TV, P1 | URW
        mov     dword [PTE_W(TV2)], 0
        invlpg  [TV2]
        PF      "access straddling into a not-present page: CR2 = page start", {mov eax, [TV2 - 2]}, 0, TV2
        ; instruction fetch from a not-present page (no NX: I/D bit stays 0)
        mov     dword [PTE_W(TV)], 0
        invlpg  [TV]
        mov     eax, TV
        PF      "fetch from not-present page: #PF(0) without NXE", {jmp eax}, 0, TV
        CHECK_EQ "fetch fault EIP is the target", [last_eip], TV
        ; execute from a present page works
        SET_PTE TV, P3 | URW
        mov     ecx, .back
        xor     eax, eax
        jmp     TV
.back:  CHECK_EQ "code in a mapped page runs", eax, 0x600DC0DE
        ret

; ---- CR0.WP ----
t_wp:
        SET_PTE TV, P1 | PG_P | PG_US          ; read-only
        NOPF    "ring 0 write to read-only page with WP=0: allowed", {mov dword [TV + 12], 0x77}
        CHECK_EQ "the write went through", [P1 + 12], 0x77
        mov     eax, cr0
        or      eax, 0x10000
        mov     cr0, eax
        PF      "ring 0 write to read-only page with WP=1: #PF(P|W)", {mov dword [TV + 12], 0x88}, 3, TV + 12
        CHECK_EQ "the faulting write did not happen", [P1 + 12], 0x77
        SET_PTE TV, P1 | PG_P                  ; supervisor, read-only
        PF      "ring 0 write to supervisor read-only page with WP=1: #PF(P|W)", {mov dword [TV + 12], 0x88}, 3, TV + 12
        NOPF    "ring 0 read of supervisor read-only page", {mov eax, [TV]}
        mov     eax, cr0
        and     eax, ~0x10000
        mov     cr0, eax
        ret

; ---- ring 3: U/S and R/W ----
u_user:
        SET_PTE_U TV, P1 | PG_P | PG_RW          ; supervisor page
        PF      "ring 3 read of supervisor page: #PF(P|U)", {mov eax, [TV]}, 5, TV
        PF      "ring 3 write of supervisor page: #PF(P|W|U)", {mov dword [TV], 0}, 7, TV
        SET_PTE_U TV, P1 | PG_P | PG_US          ; user read-only
        NOPF    "ring 3 read of user read-only page", {mov eax, [TV]}
        PF      "ring 3 write of user read-only page: #PF(P|W|U)", {mov dword [TV], 0}, 7, TV
        SET_PTE_U TV, P1 & ~1
        mov     dword [PTE_W(TV)], 0
        UINVLPG TV
        PF      "ring 3 read of not-present page: #PF(U)", {mov eax, [TV]}, 4, TV
        PF      "ring 3 write of not-present page: #PF(W|U)", {mov dword [TV], 0}, 6, TV
        ; U/S and R/W combine over PDE and PTE: the PDE says supervisor
        SET_PTE_U TV, P1 | URW
        and     dword [PD + 2*4], ~PG_US
        UINVLPG TV
        PF      "ring 3 read with PDE U/S=0, PTE U/S=1: #PF(P|U)", {mov eax, [TV]}, 5, TV
        or      dword [PD + 2*4], PG_US
        and     dword [PD + 2*4], ~PG_RW
        UINVLPG TV
        NOPF    "ring 3 read with PDE R/W=0", {mov eax, [TV]}
        PF      "ring 3 write with PDE R/W=0, PTE R/W=1: #PF(P|W|U)", {mov dword [TV], 0}, 7, TV
        or      dword [PD + 2*4], PG_RW
        UINVLPG TV
        NOPF    "ring 3 write to user writable page", {mov dword [TV], 0x11111111}
        ; fetch from a supervisor page at ring 3
        SET_PTE_U TV, P3 | PG_P | PG_RW
        mov     eax, TV
        PF      "ring 3 fetch from supervisor page: #PF(P|U)", {jmp eax}, 5, TV
        SET_PTE_U TV, P1 | URW
        USER_EXIT

; ---- PSE: 4 MiB pages ----
t_pse:
        mov     eax, cr4
        or      eax, 0x10
        mov     cr4, eax
        mov     dword [PD + 3*4], 0x00000000 | URW | PG_PS
        invlpg  [BIG]
        mov     eax, [BIG + P2]
        CHECK_EQ "4 MiB page: BIG + x maps physical x", eax, 0x22222222
        mov     eax, [PD + 3*4]
        and     eax, PG_A | PG_D
        CHECK_EQ "4 MiB page read sets A in the PDE", eax, PG_A
        mov     dword [BIG + P2 + 16], 0x5A5A
        mov     eax, [PD + 3*4]
        and     eax, PG_A | PG_D
        CHECK_EQ "4 MiB page write sets D in the PDE", eax, PG_A | PG_D
        CHECK_EQ "write through the 4 MiB page reaches memory", [P2 + 16], 0x5A5A
        mov     eax, [BIG + 0x3FFFFC]
        CHECK_EQ "last dword of the 4 MiB page", eax, [0x3FFFFC]
        mov     dword [PD + 3*4], 0x00000000 | PG_P | PG_PS       ; supervisor read-only
        invlpg  [BIG]
        mov     eax, cr0
        or      eax, 0x10000
        mov     cr0, eax
        PF      "4 MiB read-only page, WP=1 write: #PF(P|W)", {mov dword [BIG + P2], 0}, 3, BIG + P2
        mov     eax, cr0
        and     eax, ~0x10000
        mov     cr0, eax
        mov     dword [PD + 3*4], 0x00200000 | URW | PG_PS       ; bit 21 is reserved
        invlpg  [BIG]
        PF_RSVD "4 MiB PDE with reserved bit 21: #PF(P|RSVD)", {mov eax, [BIG]}, 9, BIG
        ; with CR4.PSE=0 the PS bit is ignored: the PDE points to a page table
        mov     eax, cr4
        and     eax, ~0x10
        mov     cr4, eax
        mov     dword [PD + 3*4], PTW | URW | PG_PS
        invlpg  [BIG]
        SET_PTE TV, P1 | URW
        mov     eax, [BIG]
        CHECK_EQ "CR4.PSE=0: PS bit ignored, PDE points to a page table", eax, 0x11111111
        mov     dword [PD + 3*4], 0
        invlpg  [BIG]
        ret

; ---- global pages ----
t_pge:
        mov     eax, cr4
        or      eax, 0x80
        mov     cr4, eax
        SET_PTE TV, P1 | URW | PG_G
        mov     eax, [TV]
        mov     dword [PTE_W(TV)], P2 | URW | PG_G
        mov     eax, cr3
        mov     cr3, eax
        mov     eax, [TV]
        IF_WORD "no-global-tlb", .skip_g
        CHECK_EQ "global page survives a CR3 reload (old translation used)", eax, 0x11111111
        jmp     .g_done
.skip_g: SKIP   "global page surviving a CR3 reload", "command line has no-global-tlb (QEMU flushes global entries too)"
.g_done:
        invlpg  [TV]
        CHECK_EQ "INVLPG drops a global translation", [TV], 0x22222222
        SET_PTE TV, P1 | URW
        mov     eax, [TV]
        mov     dword [PTE_W(TV)], P2 | URW
        mov     eax, cr3
        mov     cr3, eax
        CHECK_EQ "non-global translation dropped by a CR3 reload", [TV], 0x22222222
        SET_PTE TV, P1 | URW | PG_G
        mov     eax, [TV]
        mov     dword [PTE_W(TV)], P2 | URW | PG_G
        mov     eax, cr4
        and     eax, ~0x80
        mov     cr4, eax
        CHECK_EQ "clearing CR4.PGE drops global translations", [TV], 0x22222222
        ret

; ---- PAE ----
%define PAE_PTE(va) (PAE_PT + (((va) >> 12) & 0x1FF) * 8)
%macro SET_PAE_PTE 3    ; va, low, high
        mov     dword [PAE_PTE(%1)], %2
        mov     dword [PAE_PTE(%1) + 4], %3
        invlpg  [%1]
%endmacro

%macro SET_PAE_PTE_U 3
        mov     dword [PAE_PTE(%1)], %2
        mov     dword [PAE_PTE(%1) + 4], %3
        UINVLPG %1
%endmacro

t_pae:
        mov     edi, PDPT
        mov     ecx, 0x3000 / 4
        xor     eax, eax
        rep stosd
        mov     dword [PDPT], PAE_PD | PG_P
        mov     edi, PAE_PD
        mov     eax, URW | PG_PS
        mov     ecx, 8
.l:     mov     [edi], eax
        add     edi, 8
        add     eax, 0x200000
        loop    .l
        mov     dword [PAE_PD + 8*8], 0x200000 | URW | PG_PS
        mov     dword [PAE_PD + 9*8], PAE_PT | URW
        mov     dword [PAE_PTE(PAE_TV)], P1 | URW
        mov     eax, cr4
        or      eax, 0x20
        mov     cr4, eax
        mov     eax, PDPT
        mov     cr3, eax
        mov     eax, cr0
        or      eax, 0x80000000
        mov     cr0, eax
        jmp     .on
.on:    CHECK_EQ "PAE on: identity 2 MiB pages keep code running", [P2], 0x22222222
        mov     eax, [PAE_2M + P1 - 0x200000]
        CHECK_EQ "PAE 2 MiB page: PAE_2M + x maps physical 0x200000 + x", eax, 0x11111111
        mov     eax, [PAE_PD + 8*8]
        and     eax, PG_A | PG_D
        CHECK_EQ "PAE 2 MiB page read sets A in the PDE", eax, PG_A
        CHECK_EQ "PAE 4K page maps P1", [PAE_TV], 0x11111111
        mov     dword [PAE_TV + 20], 0x33
        mov     eax, [PAE_PTE(PAE_TV)]
        and     eax, PG_A | PG_D
        CHECK_EQ "PAE 4K write sets A and D", eax, PG_A | PG_D
        SET_PAE_PTE PAE_TV, P2 | URW, 0
        CHECK_EQ "PAE 4K remap + INVLPG", [PAE_TV], 0x22222222
        SET_PAE_PTE PAE_TV, 0, 0
        PF      "PAE not-present: #PF(0)", {mov eax, [PAE_TV + 4]}, 0, PAE_TV + 4
        ; bit 63 is reserved while EFER.NXE=0
        SET_PAE_PTE PAE_TV, P1 | URW, 0x80000000
        PF_RSVD "PAE PTE bit 63 with NXE=0: #PF(P|RSVD)", {mov eax, [PAE_TV]}, 9, PAE_TV
        PF_RSVD "PAE reserved-bit write: #PF(P|W|RSVD)", {mov dword [PAE_TV], 0}, 11, PAE_TV
        mov     dword [PAE_PD + 8*8], 0x202000 | URW | PG_PS      ; bit 13 reserved in a 2 MiB PDE
        invlpg  [PAE_2M]
        PF_RSVD "PAE 2 MiB PDE with reserved bit 13: #PF(P|RSVD)", {mov eax, [PAE_2M]}, 9, PAE_2M
        mov     dword [PAE_PD + 8*8], 0x200000 | URW | PG_PS
        invlpg  [PAE_2M]
        ; the PDPT entries are loaded at the CR3 write
        mov     dword [PDPT + 8], PAE_PD | PG_P
        mov     eax, [0x40000000 + P1]
        CHECK_EQ "PDPT entry 1 maps the same directory after CR3 reload", eax, 0x11111111
        call    t_nx
        ret

t_nx:
        mov     eax, 0x80000000
        cpuid
        cmp     eax, 0x80000001
        jb      .none
        mov     eax, 0x80000001
        cpuid
        test    edx, 1 << 20
        jz      .none
        mov     ecx, 0xC0000080
        rdmsr
        or      eax, 1 << 11
        wrmsr
        SET_PAE_PTE PAE_TV, P3 | URW, 0x80000000
        NOPF    "NX page: read allowed", {mov eax, [PAE_TV]}
        mov     eax, PAE_TV
        PF      "NX page: fetch #PF(P|I/D)", {jmp eax}, 0x11, PAE_TV
        SET_PAE_PTE PAE_TV, 0, 0
        mov     eax, PAE_TV
        PF      "NXE=1, not-present fetch: #PF(I/D)", {jmp eax}, 0x10, PAE_TV
        SET_PAE_PTE PAE_TV, P3 | URW, 0
        mov     ecx, .back
        xor     eax, eax
        jmp     PAE_TV
.back:  CHECK_EQ "NXE=1, page without NX: code runs", eax, 0x600DC0DE
        ; NX in the PDE applies to every page below it
        mov     dword [PAE_PD + 9*8 + 4], 0x80000000
        invlpg  [PAE_TV]
        mov     eax, PAE_TV
        PF      "NX in the PDE: fetch #PF(P|I/D)", {jmp eax}, 0x11, PAE_TV
        mov     dword [PAE_PD + 9*8 + 4], 0
        RUN_USER u_nx
        mov     ecx, 0xC0000080
        rdmsr
        and     eax, ~(1 << 11)
        wrmsr
        ret
.none:  SKIP    "NX checks", "CPUID 0x80000001 EDX bit 20 (NX) not reported"
        ret

u_nx:
        SET_PAE_PTE_U PAE_TV, P3 | URW, 0x80000000
        mov     eax, PAE_TV
        PF      "ring 3 fetch from NX user page: #PF(P|U|I/D)", {jmp eax}, 0x15, PAE_TV
        USER_EXIT

%include "lib-end.inc"
bss_end:
