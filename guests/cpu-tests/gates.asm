; gates: GDT/IDT, interrupt vs trap gates, call gates with privilege change,
; returns to an outer ring, #GP/#NP/#SS error codes, conforming code, expand-down
; and limit checks, LAR/LSL/VERR/VERW.
%include "lib.inc"

test_name: db "gates", 0
banner:    db "pvlab cpu-tests: gates", 10, 0

CALLGATE   equ 0x30         ; GDT[6]  32-bit call gate, DPL3 -> KCODE:cg_target, 2 params
CONF0      equ 0x38         ; GDT[7]  conforming readable code, DPL0, flat
EXPDN16    equ 0x40         ; GDT[8]  expand-down data, B=0, limit 0xFFF, DPL3
SMALLDATA  equ 0x48         ; GDT[9]  data, limit 0xFFF, DPL0
EXPDN32    equ 0x50         ; GDT[10] expand-down data, B=1, limit 0xFFF, DPL3
EXECONLY   equ 0x58         ; GDT[11] execute-only code, DPL0
NOTPRESENT equ 0x60         ; GDT[12] data, P=0
CONF3      equ 0x68         ; GDT[13] conforming readable code, DPL3
DATA4M     equ 0x70         ; GDT[14] data, limit 4 MiB - 1, DPL0

test_main:
        DESC    7, 0, 0xFFFFF, 0x9E, 0xC
        DESC    8, SCRATCH, 0xFFF, 0xF6, 0x0
        DESC    9, SCRATCH, 0xFFF, 0x92, 0x0
        DESC    10, SCRATCH + 0x10000, 0xFFF, 0xF6, 0x4
        DESC    11, 0, 0xFFFFF, 0x98, 0xC
        DESC    12, 0, 0xFFFFF, 0x12, 0xC
        DESC    13, 0, 0xFFFFF, 0xFE, 0xC
        DESC    14, 0, 0x3FF, 0x92, 0xC
        GDT_GATE 6, cg_target, KCODE, 0xEC, 2

        call    t_int_vs_trap
        call    t_idt_limit
        call    t_selectors_ring0
        call    t_limits
        call    t_lar_lsl_verr
        RUN_USER u_ring3
        RUN_USER u_callgate
        CHECK_EQ "call gate: CS at target", [cg_cs_in], KCODE
        CHECK_EQ "call gate: SS from TSS.ss0", [cg_ss_in], KDATA
        CHECK_EQ "call gate: ESP from TSS.esp0 minus 6 dwords", [cg_esp], EXC_STACK_TOP - 24
        CHECK_EQ "call gate: pushed return CS", [cg_ret_cs], UCODE
        CHECK_EQ "call gate: param copied (last pushed)", [cg_p1], 0x2222
        CHECK_EQ "call gate: param copied (first pushed)", [cg_p2], 0x1111
        CHECK_EQ "call gate: pushed outer ESP", [cg_oldesp], USTACK_TOP - 8
        CHECK_EQ "call gate: pushed outer SS", [cg_oldss], UDATA
        CHECK_EQ "retf 8 to ring 3: outer ESP restored past params", [u_esp_after], USTACK_TOP
        CHECK_EQ "retf to ring 3: CS", [u_cs_after], UCODE
        CHECK_EQ "retf to ring 3: DS (DPL0 data) nulled", [u_ds_after], 0
        CHECK_EQ "retf to ring 3: ES (DPL0 data) nulled", [u_es_after], 0
        CHECK_EQ "retf to ring 3: FS (DPL3 data) kept", [u_fs_after], UDATA
        CHECK_EQ "retf to ring 3: GS (conforming code) kept", [u_gs_after], CONF0
        RUN_USER u_conforming
        RUN_USER u_stack_expand_down
        RUN_USER u_lar_ring3
        ret

; ---- interrupt gate vs trap gate ----
t_int_vs_trap:
        HOOK    0x40, hook_nop
        sti
        int     0x40
        pushfd
        cli
        pop     eax
        and     eax, 0x200
        CHECK_EQ "IRET restores IF=1", eax, 0x200
        mov     eax, [handler_eflags]
        and     eax, 0x200
        CHECK_EQ "interrupt gate clears IF", eax, 0
        mov     eax, [last_eflags]
        and     eax, 0x200
        CHECK_EQ "interrupt gate pushes EFLAGS with IF=1", eax, 0x200
        IDT_GATE 0x40, [isr_table + 0x40*4], KCODE, 0x8F
        sti
        int     0x40
.after: cli
        mov     eax, [handler_eflags]
        and     eax, 0x200
        CHECK_EQ "trap gate keeps IF", eax, 0x200
        CHECK_EQ "INT n frame EIP is the next instruction", [last_eip], .after
        UNHOOK  0x40
        IDT_DEFAULT 0x40
        ret

; ---- INT beyond the IDT limit ----
t_idt_limit:
        mov     word [small_idtr], 0x40*8 - 1
        mov     dword [small_idtr + 2], idt
        lidt    [small_idtr]
        EXPECT_FAULT .r
        int     0x50
.r:     lidt    [idt_ptr]
        CHECK_FAULT "INT 0x50 beyond IDT limit: #GP(0x50*8+2)", 13, 0x50*8 + 2
        ret

; ---- selector loads at ring 0 ----
%macro LOAD_FAULT 5   ; name, segreg, selector, vector, error
        mov     ax, %3
        EXPECT_FAULT %%r
        mov     %2, ax
%%r:    CHECK_FAULT %1, %4, %5
        mov     ax, KDATA
        mov     ds, ax
        mov     es, ax
%endmacro

t_selectors_ring0:
        LOAD_FAULT "mov ds, selector beyond GDT limit: #GP(sel)", es, 0x0FF8, 13, 0x0FF8
        LOAD_FAULT "mov es, execute-only code: #GP(sel)", es, EXECONLY, 13, EXECONLY
        LOAD_FAULT "mov es, not-present data: #NP(sel)", es, NOTPRESENT, 11, NOTPRESENT
        LOAD_FAULT "mov ss, not-present data: #SS(sel)", ss, NOTPRESENT, 12, NOTPRESENT
        LOAD_FAULT "mov ss, DPL3 data at CPL0: #GP(sel)", ss, UDATA, 13, UDATA & ~3
        LOAD_FAULT "mov ss, null: #GP(0)", ss, 0, 13, 0
        LOAD_FAULT "mov ss, code segment: #GP(sel)", ss, KCODE, 13, KCODE
        LOAD_FAULT "mov es, LDT selector with no LDT: #GP(sel)", es, 0x0C, 13, 0x0C
        LOAD_FAULT "mov es, call gate selector: #GP(sel)", es, CALLGATE, 13, CALLGATE
        LOAD_FAULT "mov es, TSS selector: #GP(sel)", es, MAIN_TSS, 13, MAIN_TSS
        ; loads that must work
        EXPECT_FAULT .r1
        mov     ax, 0
        mov     es, ax
        mov     ax, 3
        mov     fs, ax
        mov     ax, CONF0
        mov     gs, ax
.r1:    CHECK_NOFAULT "null into ES/FS, readable code into GS: no fault"
        mov     eax, fs
        CHECK_EQ "null selector with RPL3 is kept as loaded", eax, 3
        mov     eax, [gs:gs_probe]
        CHECK_EQ "read through a readable code segment", eax, 0x600DC0DE
        mov     ax, KDATA
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        EXPECT_FAULT .r3
        jmp     KDATA:.r3
.r3:    CHECK_FAULT "far jmp to a data segment: #GP(sel)", 13, KDATA
        EXPECT_FAULT .r4
        call    0:0
.r4:    CHECK_FAULT "far call to the null selector: #GP(0)", 13, 0
        EXPECT_FAULT .r5
        call    CONF3:.r5
.r5:    CHECK_FAULT "far call at CPL0 to conforming DPL3 code: #GP(sel)", 13, CONF3
        EXPECT_FAULT .r6
        jmp     NOTPRESENT:.r6
.r6:    CHECK_FAULT "far jmp to a not-present segment: #GP(sel) (data type checked first)", 13, NOTPRESENT
        ; far jmp to execute-only code works, and a read through it faults
        jmp     EXECONLY:.x1
.x1:    mov     eax, cs
        CHECK_EQ "far jmp to execute-only code: CS loaded", eax, EXECONLY
        jmp     KCODE:.x2
.x2:    mov     ax, EXECONLY
        EXPECT_FAULT .r7
        mov     es, ax
.r7:    CHECK_FAULT "execute-only code cannot be read (mov es)", 13, EXECONLY
        mov     ax, KDATA
        mov     es, ax
        ret

; ---- limit checks, expand-down, SS faults ----
%macro ACCESS 4   ; name, instruction..., vector (-1 none), error
        EXPECT_FAULT %%r
        %2
%%r:
%if %3 == -1
        CHECK_NOFAULT %1
%else
        CHECK_FAULT %1, %3, %4
%endif
%endmacro

t_limits:
        mov     ax, SMALLDATA
        mov     es, ax
        movzx   eax, byte [gdt + 9*8 + 5]
        CHECK_EQ "loading ES sets the descriptor's accessed bit", eax, 0x93
        IF_WORD "no-seg-limits", .skip
        ACCESS  "limit 0xFFF: byte at 0xFFF ok", {mov al, [es:0xFFF]}, -1, 0
        ACCESS  "limit 0xFFF: dword at 0xFFC ok", {mov eax, [es:0xFFC]}, -1, 0
        ACCESS  "limit 0xFFF: dword at 0xFFD #GP(0)", {mov eax, [es:0xFFD]}, 13, 0
        ACCESS  "limit 0xFFF: byte at 0x1000 #GP(0)", {mov al, [es:0x1000]}, 13, 0
        ACCESS  "limit 0xFFF: word write at 0xFFF #GP(0)", {mov word [es:0xFFF], 1}, 13, 0
        mov     ax, EXPDN16
        mov     es, ax
        ACCESS  "expand-down B=0: byte at 0x1000 ok", {mov al, [es:0x1000]}, -1, 0
        ACCESS  "expand-down B=0: byte at 0xFFF #GP(0)", {mov al, [es:0xFFF]}, 13, 0
        ACCESS  "expand-down B=0: dword at 0xFFFC ok", {mov eax, [es:0xFFFC]}, -1, 0
        ACCESS  "expand-down B=0: dword at 0xFFFD #GP(0)", {mov eax, [es:0xFFFD]}, 13, 0
        ACCESS  "expand-down B=0: byte at 0x10000 #GP(0)", {mov al, [es:0x10000]}, 13, 0
        ACCESS  "expand-down B=0: dword at 0xFFE (straddles limit) #GP(0)", {mov eax, [es:0xFFE]}, 13, 0
        mov     ax, EXPDN32
        mov     es, ax
        ACCESS  "expand-down B=1: byte at 0x10000 ok", {mov al, [es:0x10000]}, -1, 0
        ACCESS  "expand-down B=1: byte at 0xFFF #GP(0)", {mov al, [es:0xFFF]}, 13, 0
        ACCESS  "expand-down B=1: dword at 0xFFFFFFFC ok", {mov eax, [es:0xFFFFFFFC]}, -1, 0
        mov     ax, KDATA
        mov     es, ax
        ; SS-relative accesses beyond the SS limit give #SS(0)
        mov     ax, DATA4M
        mov     ss, ax
        ACCESS  "SS limit 4 MiB: [ss:0x3FFFFC] ok", {mov eax, [ss:0x3FFFFC]}, -1, 0
        ACCESS  "SS limit 4 MiB: [ss:0x400000] #SS(0)", {mov eax, [ss:0x400000]}, 12, 0
        mov     ebp, 0x500000
        ACCESS  "SS limit 4 MiB: [ebp] defaults to SS: #SS(0)", {mov eax, [ebp]}, 12, 0
        ACCESS  "DS limit is not SS limit: [ds:0x500000] ok", {mov eax, [ds:0x500000]}, -1, 0
        mov     ax, KDATA
        mov     ss, ax
        ; a null ES faults only when used
        xor     ax, ax
        mov     es, ax
        EXPECT_FAULT .r2
        mov     eax, [es:0x1000]
.r2:    CHECK_FAULT "memory access through null ES: #GP(0)", 13, 0
        mov     ax, KDATA
        mov     es, ax
        ret
.skip:  mov     ax, KDATA
        mov     es, ax
        SKIP    "segment limit and null-selector use checks", "command line has no-seg-limits (QEMU TCG checks neither)"
        ret

; ---- LAR / LSL / VERR / VERW at ring 0 ----
; LAR_OK name, selector, expected [, mask]   the default mask leaves out the accessed
; bit, which QEMU sets only for data-segment loads
%macro LAR_OK 3-4 0x00F0FE00
        mov     ecx, %2
        mov     eax, 0xDEADBEEF
        lar     eax, ecx
        CHECK   z, {%1, " (ZF=1)"}
        and     eax, %4
        CHECK_EQ %1, eax, %3
%endmacro
%macro NOT_Z 3  ; name, instruction, selector (eax must stay 0xDEADBEEF for lar/lsl)
        mov     ecx, %3
        mov     eax, 0xDEADBEEF
        %2
        CHECK   nz, {%1, " (ZF=0)"}
        CHECK_EQ {%1, " leaves destination unchanged"}, eax, 0xDEADBEEF
%endmacro

t_lar_lsl_verr:
        LAR_OK  "LAR KCODE", KCODE, 0x00C09A00
        LAR_OK  "LAR KDATA", KDATA, 0x00C09200
        LAR_OK  "LAR small data (G=0,B=0)", SMALLDATA, 0x00009200
        LAR_OK  "LAR TSS after LTR shows the busy type", MAIN_TSS, 0x00008B00, 0x00F0FF00
        mov     ebx, [gdt + 6*8 + 4]
        and     ebx, 0x00F0FE00
        LAR_OK  "LAR call gate", CALLGATE, ebx
        NOT_Z   "LAR null selector", {lar eax, ecx}, 0
        NOT_Z   "LAR beyond GDT limit", {lar eax, ecx}, 0x0FF8
        NOT_Z   "LAR KDATA with RPL3 (RPL > DPL)", {lar eax, ecx}, KDATA | 3
        mov     ecx, KCODE
        lsl     eax, ecx
        CHECK   z, "LSL KCODE ZF=1"
        CHECK_EQ "LSL KCODE is byte limit (G=1 scaled)", eax, 0xFFFFFFFF
        mov     ecx, SMALLDATA
        lsl     eax, ecx
        CHECK_EQ "LSL small data", eax, 0xFFF
        mov     ecx, DATA4M
        lsl     eax, ecx
        CHECK_EQ "LSL 4 MiB data (limit 0x3FF, G=1)", eax, 0x3FFFFF
        mov     ecx, MAIN_TSS
        lsl     eax, ecx
        CHECK   z, "LSL TSS ZF=1"
        CHECK_EQ "LSL TSS", eax, 103
        NOT_Z   "LSL call gate", {lsl eax, ecx}, CALLGATE
        NOT_Z   "LSL null", {lsl eax, ecx}, 0
        mov     ax, KCODE
        verr    ax
        CHECK   z, "VERR readable code: ZF=1"
        mov     ax, EXECONLY
        verr    ax
        CHECK   nz, "VERR execute-only code: ZF=0"
        mov     ax, KDATA
        verw    ax
        CHECK   z, "VERW writable data: ZF=1"
        mov     ax, KCODE
        verw    ax
        CHECK   nz, "VERW code: ZF=0"
        mov     ax, NOTPRESENT
        verr    ax
        CHECK   z, "VERR not-present data: ZF=1 (presence not checked)"
        mov     ax, CALLGATE
        verr    ax
        CHECK   nz, "VERR call gate: ZF=0"
        xor     ax, ax
        verr    ax
        CHECK   nz, "VERR null: ZF=0"
        ret

; ================= ring 3 parts =================
u_ring3:
        mov     eax, cs
        CHECK_EQ "IRET to ring 3: CS", eax, UCODE
        mov     eax, ss
        CHECK_EQ "IRET to ring 3: SS", eax, UDATA
        mov     eax, esp
        CHECK_EQ "IRET to ring 3: ESP", eax, USTACK_TOP
        pushfd
        pop     eax
        and     eax, 0x3000
        CHECK_EQ "IRET to ring 3: IOPL=3 from the image", eax, 0x3000
        ; INT through a DPL0 gate from ring 3
        EXPECT_FAULT .r1
        int     0x41
.r1:    CHECK_FAULT "ring 3 INT 0x41 via DPL0 gate: #GP(0x41*8+2)", 13, 0x41*8 + 2
        ; INT through a DPL3 gate: stack switch to TSS.esp0
        mov     dword [ss3_seen], 0
        HOOK    0x42, hook_record_stack
        IDT_GATE 0x42, [isr_table + 0x42*4], KCODE, 0xEE
        int     0x42
        CHECK_EQ "ring 3 INT 0x42 via DPL3 gate: handler ESP = TSS.esp0 - 20", [ss3_esp0], EXC_STACK_TOP - 20
        CHECK_EQ "ring 3 INT: pushed outer SS", [ss3_seen], UDATA
        CHECK_EQ "ring 3 INT: pushed outer ESP", [ss3_esp3], USTACK_TOP
        CHECK_EQ "ring 3 INT: pushed CS", [last_cs], UCODE
        ; ring-0 selectors from ring 3
        EXPECT_FAULT .r2
        mov     ax, KDATA
        mov     es, ax
.r2:    CHECK_FAULT "ring 3 mov es, DPL0 data: #GP(sel)", 13, KDATA
        EXPECT_FAULT .r3
        mov     ax, SMALLDATA | 3
        mov     es, ax
.r3:    CHECK_FAULT "ring 3 mov es, DPL0 data with RPL3: #GP(sel)", 13, SMALLDATA
        EXPECT_FAULT .r4
        mov     ax, EXPDN16
        mov     es, ax
.r4:    CHECK_FAULT "ring 3 mov es, DPL3 data with RPL0: allowed (RPL <= DPL)", -1, -1
        mov     eax, es
        CHECK_EQ "ring 3 loaded selector keeps RPL0", eax, EXPDN16
        mov     ax, UDATA
        mov     es, ax
        EXPECT_FAULT .r5
        cli
.r5:    CHECK_NOFAULT "ring 3 CLI with IOPL=3: allowed"
        EXPECT_FAULT .r6
        mov     eax, cr0
.r6:    CHECK_FAULT "ring 3 mov eax, cr0: #GP(0)", 13, 0
        EXPECT_FAULT .r7
        hlt
.r7:    CHECK_FAULT "ring 3 HLT: #GP(0)", 13, 0
        EXPECT_FAULT .r8
        lgdt    [gdt_ptr]
.r8:    CHECK_FAULT "ring 3 LGDT: #GP(0)", 13, 0
        ; far jmp to own-privilege code with RPL0 gets RPL=CPL
        jmp     (UCODE & ~3):.j
.j:     mov     eax, cs
        CHECK_EQ "ring 3 far jmp with RPL0 selector: CS.RPL = CPL", eax, UCODE
        EXPECT_FAULT .r9
        call    KCODE:.r9
.r9:    CHECK_FAULT "ring 3 far call to DPL0 non-conforming code: #GP(sel)", 13, KCODE
        EXPECT_FAULT .r10
        jmp     CALLGATE:0
.r10:   CHECK_FAULT "ring 3 far jmp through a call gate to inner ring: #GP(sel)", 13, KCODE
        USER_EXIT

hook_record_stack:
        mov     eax, [ebp + F_SS3]
        mov     [ss3_seen], eax
        mov     eax, [ebp + F_ESP3]
        mov     [ss3_esp3], eax
        lea     eax, [ebp + F_EIP]
        mov     [ss3_esp0], eax
        ret

; ring 3 -> call gate -> ring 0 -> retf 8 -> ring 3
u_callgate:
        push    dword 0x1111
        push    dword 0x2222
        call    (CALLGATE | 3):0
        mov     [ss:u_esp_after], esp
        mov     eax, ds
        mov     [ss:u_ds_after], eax
        mov     eax, es
        mov     [ss:u_es_after], eax
        mov     eax, fs
        mov     [ss:u_fs_after], eax
        mov     eax, gs
        mov     [ss:u_gs_after], eax
        mov     eax, cs
        mov     [ss:u_cs_after], eax
        mov     ax, UDATA
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        USER_EXIT

cg_target:
        mov     [cg_esp], esp
        mov     eax, [esp + 4]
        mov     [cg_ret_cs], eax
        mov     eax, [esp + 8]
        mov     [cg_p1], eax
        mov     eax, [esp + 12]
        mov     [cg_p2], eax
        mov     eax, [esp + 16]
        mov     [cg_oldesp], eax
        mov     eax, [esp + 20]
        mov     [cg_oldss], eax
        mov     eax, cs
        mov     [cg_cs_in], eax
        mov     eax, ss
        mov     [cg_ss_in], eax
        mov     ax, KDATA
        mov     ds, ax
        mov     es, ax
        mov     ax, UDATA
        mov     fs, ax
        mov     ax, CONF0
        mov     gs, ax
        retf    8

u_conforming:
        mov     [u_esp_before], esp
        call    (CONF0 | 3):conf_target
        CHECK_EQ "far call ring 3 -> conforming DPL0: CS inside", [conf_cs], CONF0 | 3
        mov     eax, [u_esp_before]
        sub     eax, 8
        CHECK_EQ "far call to conforming code: no stack switch", [conf_esp], eax
        mov     eax, cs
        CHECK_EQ "back from conforming code: CS", eax, UCODE
        mov     eax, [cs:gs_probe]
        CHECK_EQ "ring 3 read through CS override", eax, 0x600DC0DE
        USER_EXIT
conf_target:
        mov     eax, cs
        mov     [conf_cs], eax
        mov     [conf_esp], esp
        retf

; expand-down stack segment at ring 3: the fault handler runs on the ring-0 stack
u_stack_expand_down:
        IF_WORD "no-seg-limits", .skip
        mov     [u_esp_before], esp
        mov     ax, EXPDN32 | 3
        mov     ss, ax
        mov     esp, 0x1004
        EXPECT_FAULT .r1
        push    eax
.r1:    mov     ebx, [last_vec]         ; checked once SS is normal again (a check pushes)
        EXPECT_FAULT .r2
        push    eax
.r2:    mov     ecx, esp
        mov     ax, UDATA
        mov     ss, ax
        mov     esp, [u_esp_before]
        CHECK_EQ "expand-down SS: push to 0x1000 ok", ebx, -1
        CHECK_FAULT "expand-down SS: push below limit+1: #SS(0)", 12, 0
        CHECK_EQ "#SS from push leaves ESP unchanged", ecx, 0x1000
        USER_EXIT
.skip:  SKIP    "expand-down stack segment checks", "command line has no-seg-limits"
        USER_EXIT

u_lar_ring3:
        mov     ecx, KDATA
        mov     eax, 0xDEADBEEF
        lar     eax, ecx
        CHECK   nz, "ring 3 LAR DPL0 data: ZF=0"
        mov     ecx, CONF0
        lar     eax, ecx
        CHECK   z, "ring 3 LAR conforming DPL0 code: ZF=1"
        mov     ax, CONF0
        verr    ax
        CHECK   z, "ring 3 VERR conforming DPL0 readable code: ZF=1"
        mov     ax, KDATA
        verr    ax
        CHECK   nz, "ring 3 VERR DPL0 data: ZF=0"
        mov     ax, UDATA
        verw    ax
        CHECK   z, "ring 3 VERW DPL3 data: ZF=1"
        mov     ecx, UCODE
        lsl     eax, ecx
        CHECK   z, "ring 3 LSL own code: ZF=1"
        USER_EXIT

        align   4
gs_probe:       dd 0x600DC0DE

%include "lib-end.inc"
small_idtr:     resb 8
cg_esp:         resd 1
cg_ret_cs:      resd 1
cg_p1:          resd 1
cg_p2:          resd 1
cg_oldesp:      resd 1
cg_oldss:       resd 1
cg_cs_in:       resd 1
cg_ss_in:       resd 1
u_esp_after:    resd 1
u_ds_after:     resd 1
u_es_after:     resd 1
u_fs_after:     resd 1
u_gs_after:     resd 1
u_cs_after:     resd 1
u_esp_before:   resd 1
conf_cs:        resd 1
conf_esp:       resd 1
ss3_seen:       resd 1
ss3_esp3:       resd 1
ss3_esp0:       resd 1
bss_end:
