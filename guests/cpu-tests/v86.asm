; v86: virtual-8086 mode entered with IRET (VM=1), real-mode style code and segment
; arithmetic, IOPL-sensitive instructions with IOPL=3 and IOPL=0 (#GP(0) to the
; monitor), INT n through the protected-mode IDT, I/O through the TSS bitmap, the
; interrupt frame of a v86 task, the return to the monitor, and the virtual-8086 mode
; extensions (CR4.VME: VIF for CLI/STI/PUSHF/POPF/IRET, INT n redirection through the
; TSS bitmap to the v86 program's own vector table).
%include "lib.inc"

test_name: db "v86", 0
banner:    db "pvlab cpu-tests: v86", 10, 0

V86_SEG  equ 0x2000
V86_LIN  equ V86_SEG * 16
EFL_VM   equ 0x20000
%define R(x) ((x) - v86_blob)
%define V(x) (V86_LIN + R(x))           ; linear address of a blob label

test_main:
        mov     esi, v86_blob
        mov     edi, V86_LIN
        mov     ecx, v86_blob_end - v86_blob
        rep movsb
        HOOK    13, hook_gp_v86
        HOOK    0, hook_de_v86
        HOOK    0x42, hook_int42
        IDT_GATE 0x42, [isr_table + 0x42*4], KCODE, 0xEE

        ; ---- IOPL = 3 ----
        mov     eax, R(v86_iopl3)
        mov     edx, EFL_VM | 0x3000 | 2
        call    run_v86
        CHECK_EQ "v86 IOPL3: returned to the monitor through HLT (#GP)", [user_ret_eax], 0x3333
        movzx   eax, word [V(r_cs)]
        CHECK_EQ "v86: CS after IRET", eax, V86_SEG
        movzx   eax, word [V(r_sp)]
        CHECK_EQ "v86: SP after IRET", eax, 0xFFF0
        movzx   eax, word [V(r_seg)]
        CHECK_EQ "v86 segment arithmetic: 2000:0F00 = 20F0:0000", eax, 0xABCD
        movzx   eax, word [V(r_farcs)]
        CHECK_EQ "v86 far call to 2001:xxxx: CS inside", eax, V86_SEG + 1
        movzx   eax, word [V(r_farret)]
        CHECK_EQ "v86 far call/retf round trip", eax, 0x7777
        movzx   eax, word [V(r_hma)]
        movzx   ecx, word [0x100000]
        CHECK_EQ "v86 FFFF:0010 reaches linear 0x100000 (no 1 MiB wrap)", eax, ecx
        mov     eax, [V(r_pushfd)]
        and     eax, EFL_VM | 0x10000
        CHECK_EQ "v86 PUSHFD: VM and RF read as 0", eax, 0
        movzx   eax, word [V(r_flags1)]
        and     eax, 0x3000
        CHECK_EQ "v86 IOPL3 PUSHF shows IOPL=3", eax, 0x3000
        movzx   eax, word [V(r_flags2)]
        and     eax, 0x3000
        CHECK_EQ "v86 IOPL3 POPF cannot change IOPL", eax, 0x3000
        movzx   eax, word [V(r_if)]
        and     eax, 0x200
        CHECK_EQ "v86 IOPL3 STI/PUSHF: IF set directly", eax, 0x200
        CHECK_EQ "v86 IOPL3 INT 0x42 through a DPL3 gate reached the handler", [i42_count], 1
        CHECK_EQ "v86 INT frame: VM set in pushed EFLAGS", [i42_vm], EFL_VM
        CHECK_EQ "v86 INT frame: ring-0 ESP = TSS.esp0 - 9 dwords", [i42_esp0], EXC_STACK_TOP - 36
        CHECK_EQ "v86 INT: DS is null inside the handler", [i42_ds_in], 0
        CHECK_EQ "v86 INT frame: pushed v86 DS", [i42_v86ds], V86_SEG
        CHECK_EQ "v86 INT frame: pushed v86 ES", [i42_v86es], 0x1234
        CHECK_EQ "v86 INT frame: pushed v86 CS", [i42_cs], V86_SEG
        CHECK_EQ "v86 INT frame: pushed v86 SS", [i42_ss], V86_SEG
        movzx   eax, word [V(r_after_int)]
        CHECK_EQ "v86 IRET from the handler resumes v86 code with its registers", eax, 0x4242
        movzx   eax, word [V(r_es_after)]
        CHECK_EQ "v86 IRET restores ES from the frame", eax, 0x1234
        CHECK_EQ "v86 #DE delivered to the protected-mode IDT with VM=1", [de_vm], EFL_VM
        ; #GP log: out 0xE9 (no I/O bitmap), int 0x41 through a DPL0 gate
        CHECK_EQ "v86 IOPL3 #GP count", [gp_n], 2
        CHECK_EQ "v86 OUT with no I/O bitmap: #GP", [gp_op + 0], 0xE6
        CHECK_EQ "v86 OUT with no I/O bitmap: error 0", [gp_err + 0], 0
        CHECK_EQ "v86 IOPL3 INT 0x41 via DPL0 gate: #GP", [gp_op + 4], 0xCD
        CHECK_EQ "v86 IOPL3 INT 0x41 via DPL0 gate: error 0x41*8+2", [gp_err + 4], 0x41*8 + 2

        ; ---- IOPL = 0 ----
        mov     dword [gp_n], 0
        mov     dword [i42_count], 0
        mov     eax, R(v86_iopl0)
        mov     edx, EFL_VM | 2
        call    run_v86
        CHECK_EQ "v86 IOPL0: returned to the monitor", [user_ret_eax], 0x0
        CHECK_EQ "v86 IOPL0 #GP count", [gp_n], 7
        CHECK_EQ "v86 IOPL0 CLI: #GP", [gp_op + 0], 0xFA
        CHECK_EQ "v86 IOPL0 STI: #GP", [gp_op + 4], 0xFB
        CHECK_EQ "v86 IOPL0 PUSHF: #GP", [gp_op + 8], 0x9C
        CHECK_EQ "v86 IOPL0 POPF: #GP", [gp_op + 12], 0x9D
        CHECK_EQ "v86 IOPL0 INT 0x42 (DPL3 gate): #GP to the monitor", [gp_op + 16], 0xCD
        CHECK_EQ "v86 IOPL0 INT n: error 0", [gp_err + 16], 0
        CHECK_EQ "v86 IOPL0 INT 0x42 did not reach its handler", [i42_count], 0
        CHECK_EQ "v86 IOPL0 INT3 is not IOPL-sensitive: DPL0 gate #GP", [gp_op + 20], 0xCC
        CHECK_EQ "v86 INT3 via DPL0 gate: error 3*8+2", [gp_err + 20], 3*8 + 2
        CHECK_EQ "v86 IOPL0 IRET: #GP", [gp_op + 24], 0xCF
        mov     eax, [gp_err]
        or      eax, [gp_err + 4]
        or      eax, [gp_err + 8]
        or      eax, [gp_err + 12]
        CHECK_EQ "v86 IOPL-sensitive #GPs have error code 0", eax, 0
        mov     eax, [v86_exit_eflags]
        and     eax, 0x3200
        CHECK_EQ "v86 IOPL0: IF and IOPL unchanged by the trapped CLI/STI/POPF", eax, 0
        UNLESS_WORD "no-vme", "VME"
        call    t_vme
        END_UNLESS
        UNHOOK  13
        UNHOOK  0
        UNHOOK  0x42
        ret

; ---- VME ----
EFL_VIF  equ 0x80000
EFL_VIP  equ 0x100000
t_vme:
        mov     eax, 1
        cpuid
        and     edx, 2
        CHECK_EQ "CPUID.1:EDX reports VME", edx, 2
        test    edx, edx
        jnz     .has
        ret                                     ; the failure above is reported; skip the rest
.has:
        ; The main TSS gets a 32-byte interrupt redirection bitmap at offset 104 (I/O map
        ; base 136, beyond the limit: still no I/O bitmap). Vector 0x42 is not redirected.
        mov     edi, main_tss + 104
        xor     eax, eax
        mov     ecx, 8
        rep stosd
        or      byte [main_tss + 104 + (0x42 >> 3)], 1 << (0x42 & 7)
        mov     word [main_tss + 102], 136
        DESC    5, main_tss, 135, 0x89, 0           ; available again, with the bitmap inside the limit
        mov     ax, MAIN_TSS
        ltr     ax
        ; the v86 program's vector 0x43 → 2000:R(v86_int43)
        mov     word [0x43 * 4], R(v86_int43)
        mov     word [0x43 * 4 + 2], V86_SEG
        mov     eax, cr4
        or      eax, 1                              ; CR4.VME
        mov     cr4, eax
        mov     dword [gp_n], 0
        mov     dword [i42_count], 0
        mov     eax, R(v86_vme)
        mov     edx, EFL_VM | 2                     ; IOPL 0, VIF 0
        call    run_v86
        CHECK_EQ "VME IOPL0: returned to the monitor", [user_ret_eax], 0x5678
        movzx   eax, word [V(r_vme_f1)]
        and     eax, 0x3200
        CHECK_EQ "VME PUSHF after CLI: IF shows VIF (0), IOPL shows 3", eax, 0x3000
        movzx   eax, word [V(r_vme_f2)]
        and     eax, 0x0200
        CHECK_EQ "VME STI sets VIF, PUSHF shows it as IF", eax, 0x200
        movzx   eax, word [V(r_vme_f3)]
        and     eax, 0x0200
        CHECK_EQ "VME POPF with IF=0 clears VIF", eax, 0
        movzx   eax, word [V(r_vme_i43)]
        CHECK_EQ "VME INT 0x43 (bitmap bit clear): the v86 vector table's handler ran", eax, 0x4343
        movzx   eax, word [V(r_vme_i43f)]
        and     eax, 0x3000
        CHECK_EQ "VME redirected INT: pushed FLAGS show IOPL=3", eax, 0x3000
        movzx   eax, word [V(r_vme_after)]
        CHECK_EQ "VME IRET (16-bit) from the v86 handler resumes the program", eax, 0x4343
        CHECK_EQ "VME: only INT 0x42 (bitmap bit set) and HLT trapped", [gp_n], 1
        CHECK_EQ "VME INT 0x42 with its bitmap bit set: #GP to the monitor", [gp_op], 0xCD
        CHECK_EQ "VME INT 0x42 did not reach its protected-mode handler", [i42_count], 0
        mov     eax, [v86_exit_eflags]
        and     eax, 0x200 | EFL_VIF
        CHECK_EQ "VME: IF untouched by the v86 program, VIF as it left it (set)", eax, EFL_VIF
        ; STI with VIP set: #GP(0)
        mov     dword [gp_n], 0
        mov     eax, R(v86_vme_vip)
        mov     edx, EFL_VM | EFL_VIP | 2
        call    run_v86
        CHECK_EQ "VME STI with VIP set: #GP", [gp_op], 0xFB
        CHECK_EQ "VME STI with VIP set: one #GP", [gp_n], 1
        ; PVI: CLI/STI at CPL 3 with IOPL 0 work on VIF
        mov     eax, cr4
        and     eax, ~1
        or      eax, 2                              ; CR4.PVI
        mov     cr4, eax
        RUN_USER u_pvi, 0x0002
        mov     eax, [user_ret_eax]
        and     eax, 0x200 | EFL_VIF
        CHECK_EQ "PVI: STI at CPL 3, IOPL 0 sets VIF and leaves IF clear", eax, EFL_VIF
        mov     eax, cr4
        and     eax, ~2
        mov     cr4, eax
        mov     word [main_tss + 102], 104
        DESC    5, main_tss, 103, 0x89, 0
        mov     ax, MAIN_TSS
        ltr     ax
        ret

; run_v86: eax = IP in segment V86_SEG, edx = EFLAGS (with VM). Returns when the v86
; code executes HLT (#GP to the monitor); [user_ret_eax] holds its AX.
run_v86:
        push    ebp
        push    ebx
        push    esi
        push    edi
        mov     [saved_kesp], esp
        push    dword V86_SEG           ; GS
        push    dword V86_SEG           ; FS
        push    dword V86_SEG           ; DS
        push    dword V86_SEG           ; ES
        push    dword V86_SEG           ; SS
        push    dword 0xFFF0            ; ESP
        push    edx                     ; EFLAGS
        push    dword V86_SEG           ; CS
        push    eax                     ; EIP
        iretd

hook_gp_v86:
        test    dword [ebp + F_EFL], EFL_VM
        jz      unexpected_exception
        movzx   eax, word [ebp + F_CS]
        shl     eax, 4
        movzx   ecx, word [ebp + F_EIP]
        add     eax, ecx
        movzx   ecx, byte [eax]
        cmp     cl, 0xF4
        je      .exit
        mov     edx, [gp_n]
        cmp     edx, 16
        jae     .skip
        mov     [gp_op + edx*4], ecx
        mov     eax, [ebp + F_ERR]
        mov     [gp_err + edx*4], eax
        inc     dword [gp_n]
.skip:  mov     eax, 1
        cmp     cl, 0xCD
        je      .two
        cmp     cl, 0xE6
        je      .two
        cmp     cl, 0xE4
        jne     .adv
.two:   mov     eax, 2
.adv:   add     [ebp + F_EIP], ax
        ret
.exit:  mov     eax, [ebp + F_EFL]
        mov     [v86_exit_eflags], eax
        mov     eax, [ebp + F_EAX]
        and     eax, 0xFFFF
        mov     [user_ret_eax], eax
        mov     ax, KDATA
        mov     fs, ax
        mov     gs, ax
        mov     esp, [saved_kesp]
        pop     edi
        pop     esi
        pop     ebx
        pop     ebp
        ret

hook_de_v86:
        mov     eax, [ebp + F_EFL]
        and     eax, EFL_VM
        mov     [de_vm], eax
        add     word [ebp + F_EIP], 2           ; skip "div bl"
        ret

hook_int42:
        inc     dword [i42_count]
        mov     eax, [ebp + F_EFL]
        and     eax, EFL_VM
        mov     [i42_vm], eax
        lea     eax, [ebp + F_EIP]
        mov     [i42_esp0], eax
        mov     eax, [ebp + 12]                 ; DS as found on entry
        mov     [i42_ds_in], eax
        mov     eax, [ebp + 80]
        mov     [i42_v86ds], eax
        mov     eax, [ebp + 76]
        mov     [i42_v86es], eax
        mov     eax, [ebp + F_CS]
        mov     [i42_cs], eax
        mov     eax, [ebp + F_SS3]
        mov     [i42_ss], eax
        mov     word [ebp + F_EAX], 0x4242      ; the v86 code sees AX changed
        ret

u_pvi:
        sti
        pushfd
        pop     eax
        USER_EXIT

; ================= the v86 program (copied to 2000:0000) =================
bits 16
v86_blob:
v86_iopl3:
        mov     [R(r_cs)], cs
        mov     [R(r_sp)], sp
        ; segment arithmetic
        mov     word [0x0F00], 0xABCD
        mov     ax, V86_SEG + 0xF0
        mov     es, ax
        mov     ax, [es:0x0000]
        mov     [R(r_seg)], ax
        ; far call with a different CS for the same code
        call    (V86_SEG + 1):(R(v86_far) - 0x10)
        mov     [R(r_farret)], ax
        ; above 1 MiB
        mov     ax, 0xFFFF
        mov     es, ax
        mov     ax, [es:0x0010]
        mov     [R(r_hma)], ax
        ; flags
        pushfd
        pop     eax
        mov     [R(r_pushfd)], eax
        pushf
        pop     ax
        mov     [R(r_flags1)], ax
        and     ax, 0xCFFF
        push    ax
        popf
        pushf
        pop     ax
        mov     [R(r_flags2)], ax
        sti
        pushf
        pop     ax
        mov     [R(r_if)], ax
        cli
        ; INT through a DPL3 gate with IOPL=3
        mov     ax, 0x1234
        mov     es, ax
        xor     ax, ax
        int     0x42
        mov     [R(r_after_int)], ax
        mov     [R(r_es_after)], es
        ; #DE goes to the IDT
        xor     bl, bl
        mov     ax, 1
        div     bl
        ; port I/O uses the TSS bitmap even with IOPL=3 (the main TSS has none)
        mov     al, '!'
        out     0xE9, al
        ; INT through a DPL0 gate
        int     0x41
        mov     ax, 0x3333
        hlt

v86_far:
        mov     [R(r_farcs)], cs
        mov     ax, 0x7777
        retf

v86_vme:
        cli                                     ; VIF = 0, no #GP
        pushf
        pop     ax
        mov     [R(r_vme_f1)], ax
        sti                                     ; VIF = 1
        pushf
        pop     ax
        mov     [R(r_vme_f2)], ax
        push    word 0
        popf                                    ; VIF = 0
        pushf
        pop     ax
        mov     [R(r_vme_f3)], ax
        xor     ax, ax
        int     0x43                            ; redirected: the handler below
        mov     [R(r_vme_after)], ax
        int     0x42                            ; not redirected, IOPL 0: #GP
        sti
        mov     ax, 0x5678
        hlt
v86_int43:
        push    bp
        mov     bp, sp
        mov     ax, [bp + 6]                    ; the pushed FLAGS
        mov     [R(r_vme_i43f)], ax
        pop     bp
        mov     ax, 0x4343
        mov     [R(r_vme_i43)], ax
        iret
v86_vme_vip:
        sti                                     ; VIP set: #GP
        xor     ax, ax
        hlt

v86_iopl0:
        cli
        sti
        pushf
        mov     ax, 0x3200
        push    ax
        popf
        pop     ax
        int     0x42
        int3
        iret
        xor     ax, ax
        hlt

        align   2
r_cs:           dw 0
r_sp:           dw 0
r_seg:          dw 0
r_farcs:        dw 0
r_farret:       dw 0
r_hma:          dw 0
r_flags1:       dw 0
r_flags2:       dw 0
r_if:           dw 0
r_after_int:    dw 0
r_es_after:     dw 0
r_vme_f1:       dw 0
r_vme_f2:       dw 0
r_vme_f3:       dw 0
r_vme_i43:      dw 0
r_vme_i43f:     dw 0
r_vme_after:    dw 0
                align 4
r_pushfd:       dd 0
v86_blob_end:
bits 32

%include "lib-end.inc"
gp_n:           resd 1
v86_exit_eflags: resd 1
gp_op:          resd 16
gp_err:         resd 16
de_vm:          resd 1
i42_count:      resd 1
i42_vm:         resd 1
i42_esp0:       resd 1
i42_ds_in:      resd 1
i42_v86ds:      resd 1
i42_v86es:      resd 1
i42_cs:         resd 1
i42_ss:         resd 1
bss_end:
