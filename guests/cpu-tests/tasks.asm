; tasks: hardware task switches (JMP/CALL to a TSS, task gates in the GDT and IDT,
; #DF through a task gate), busy bits, NT and the back link with IRET, a 16-bit TSS,
; and the TSS I/O permission bitmap.
%include "lib.inc"

test_name: db "tasks", 0
banner:    db "pvlab cpu-tests: tasks", 10, 0

TSS_B      equ 0x30         ; GDT[6]
TSS_C      equ 0x38         ; GDT[7]  reached through the IDT task gate 0x60
TSS_D      equ 0x40         ; GDT[8]  #DF task
TSS_16     equ 0x48         ; GDT[9]  16-bit TSS
CODE16     equ 0x50         ; GDT[10] 16-bit code, base task16_start
STACK16    equ 0x58         ; GDT[11] 16-bit stack
GATE_B     equ 0x60         ; GDT[12] task gate -> TSS_B
TASK_VEC   equ 0x60

STACK_B    equ SCRATCH + 0x1000
STACK_C    equ SCRATCH + 0x2000
STACK_D    equ SCRATCH + 0x3000

; init_tss32: edi = TSS, eax = eip, ebx = esp, edx = eax value
init_tss32:
        pushad
        push    eax
        push    edi
        mov     ecx, 104
        xor     eax, eax
        rep stosb
        pop     edi
        pop     eax
        mov     [edi + 32], eax
        mov     [edi + 56], ebx
        mov     [edi + 40], edx
        mov     dword [edi + 36], 2
        mov     eax, cr3
        mov     [edi + 28], eax
        mov     dword [edi + 76], KCODE
        mov     eax, KDATA
        mov     [edi + 72], eax
        mov     [edi + 80], eax
        mov     [edi + 84], eax
        mov     [edi + 88], eax
        mov     [edi + 92], eax
        mov     word [edi + 102], 104
        popad
        ret

%macro TSS_TYPE 2   ; register, GDT index: access byte of that TSS descriptor
        movzx   %1, byte [gdt + (%2)*8 + 5]
%endmacro

test_main:
        mov     eax, cr3
        mov     [main_tss + 28], eax
        mov     edi, tss_b
        mov     eax, task_b
        mov     ebx, STACK_B
        mov     edx, 0xB0B0B0B0
        call    init_tss32
        mov     edi, tss_c
        mov     eax, task_c
        mov     ebx, STACK_C
        mov     edx, 0
        call    init_tss32
        mov     edi, tss_d
        mov     eax, task_d
        mov     ebx, STACK_D
        call    init_tss32
        DESC    6, tss_b, 103, 0x89, 0
        DESC    7, tss_c, 103, 0x89, 0
        DESC    8, tss_d, 103, 0x89, 0
        DESC    9, tss16, 43, 0x81, 0
        DESC    10, task16_start, 0xFFFF, 0x9A, 0
        DESC    11, SCRATCH + 0x20000, 0xFFFF, 0x92, 0
        GDT_GATE 12, 0, TSS_B, 0x85, 0
        IDT_GATE TASK_VEC, 0, TSS_C, 0x85

        call    t_jmp
        call    t_call
        call    t_idt_task_gate
        call    t_double_fault_task
        call    t_tss16
        call    t_iobitmap
        ret

; ---- JMP to a TSS: no nesting, old task not busy ----
t_jmp:
        clts
        mov     eax, 0x1234ABCD
        mov     esi, 0x5151
        jmp     TSS_B:0
.back:  CHECK_EQ "JMP task switch back restores EAX from the TSS", eax, 0x1234ABCD
        CHECK_EQ "JMP task switch back restores ESI", esi, 0x5151
        CHECK_EQ "task B got EAX from its TSS", [b_eax], 0xB0B0B0B0
        CHECK_EQ "task B: TR", [b_tr], TSS_B
        CHECK_EQ "task B: ESP from its TSS", [b_esp], STACK_B
        CHECK_EQ "task B: CS from its TSS", [b_cs], KCODE
        mov     eax, [b_eflags]
        and     eax, 0x4000
        CHECK_EQ "JMP: NT clear in the new task", eax, 0
        CHECK_EQ "JMP: new task's descriptor busy", [b_type_self], 0x8B
        CHECK_EQ "JMP: old task's descriptor no longer busy", [b_type_main], 0x89
        TSS_TYPE eax, 6
        CHECK_EQ "JMP back: task B descriptor available again", eax, 0x89
        TSS_TYPE eax, 5
        CHECK_EQ "JMP back: main descriptor busy", eax, 0x8B
        CHECK_EQ "outgoing state saved: main TSS EIP", [main_tss + 32], .back
        CHECK_EQ "outgoing state saved: main TSS EAX", [main_tss + 40], 0x1234ABCD
        CHECK_EQ "task B's TSS EIP saved at its JMP back", [tss_b + 32], task_b.after_jmp
        mov     eax, cr0
        and     eax, 8
        CHECK_EQ "task switch sets CR0.TS", eax, 8
        clts
        ; through the GDT task gate
        mov     eax, [b_runs]
        mov     [runs_before], eax
        jmp     GATE_B:0
        mov     eax, [b_runs]
        sub     eax, [runs_before]
        CHECK_EQ "JMP through a GDT task gate runs task B", eax, 1
        ; a busy task cannot be entered
        EXPECT_FAULT .r1
        jmp     MAIN_TSS:0
.r1:    CHECK_FAULT "JMP to the running (busy) task: #GP(sel)", 13, MAIN_TSS
        mov     ax, MAIN_TSS
        EXPECT_FAULT .r2
        ltr     ax
.r2:    CHECK_FAULT "LTR of a busy TSS: #GP(sel)", 13, MAIN_TSS
        mov     ax, KDATA
        EXPECT_FAULT .r3
        ltr     ax
.r3:    CHECK_FAULT "LTR of a data segment: #GP(sel)", 13, KDATA
        clts
        ret

; ---- CALL to a TSS: nested task, back link, IRET returns ----
t_call:
        mov     dword [b_try_busy], 1
        call    TSS_B:0
        clts
        mov     dword [b_try_busy], 0
        mov     eax, [b_eflags]
        and     eax, 0x4000
        CHECK_EQ "CALL: NT set in the new task", eax, 0x4000
        CHECK_EQ "CALL: back link is the caller's TSS", [b_link], MAIN_TSS
        CHECK_EQ "CALL: caller stays busy", [b_type_main], 0x8B
        CHECK_EQ "CALL: new task busy", [b_type_self], 0x8B
        TSS_TYPE eax, 6
        CHECK_EQ "IRET task return: task B available again", eax, 0x89
        mov     eax, [tss_b + 36]
        and     eax, 0x4000
        CHECK_EQ "IRET task return: NT cleared in the saved EFLAGS", eax, 0
        pushfd
        pop     eax
        and     eax, 0x4000
        CHECK_EQ "after the return the caller has NT=0", eax, 0
        CHECK_EQ "task B's saved EIP is after its IRET", [tss_b + 32], task_b.after_iret
        ret

task_b:
        mov     [b_eax], eax
        mov     [b_esp], esp
        mov     eax, cs
        mov     [b_cs], eax
        inc     dword [b_runs]
        pushfd
        pop     dword [b_eflags]
        str     eax
        mov     [b_tr], eax
        movzx   eax, word [tss_b]
        mov     [b_link], eax
        TSS_TYPE eax, 6
        mov     [b_type_self], eax
        TSS_TYPE eax, 5
        mov     [b_type_main], eax
        test    dword [b_eflags], 0x4000
        jnz     .nested
        jmp     MAIN_TSS:0
.after_jmp:
        jmp     task_b
.nested:
        cmp     dword [b_try_busy], 0
        je      .ret
        EXPECT_FAULT .r1
        call    MAIN_TSS:0
.r1:    CHECK_FAULT "CALL to a busy task (the caller): #GP(sel)", 13, MAIN_TSS
.ret:   iretd
.after_iret:
        jmp     task_b

; ---- task gate in the IDT ----
t_idt_task_gate:
        int     TASK_VEC
        int     TASK_VEC
        clts
        CHECK_EQ "INT through an IDT task gate runs the task (twice)", [c_runs], 2
        CHECK_EQ "IDT task gate: back link", [c_link], MAIN_TSS
        mov     eax, [c_eflags]
        and     eax, 0x4000
        CHECK_EQ "IDT task gate: NT set", eax, 0x4000
        CHECK_EQ "IDT task gate: the task resumed after its IRET", [c_resumed], 1
        IDT_GATE TASK_VEC, 0, TSS_C, 0xE5
        RUN_USER u_task_gate
        mov     eax, [u_task_vec]
        CHECK_EQ "ring 3 INT via DPL3 task gate: no fault", eax, -1
        CHECK_EQ "ring 3 INT via DPL3 task gate: the task ran", [c_runs], 3
        ret
u_task_gate:
        mov     dword [last_vec], -1
        mov     dword [resume_eip], .r
        int     TASK_VEC
.r:     mov     eax, [last_vec]
        mov     [u_task_vec], eax
        mov     dword [resume_eip], 0
        USER_EXIT

task_c:
        mov     dword [c_resumed], 0
.loop:  inc     dword [c_runs]
        pushfd
        pop     dword [c_eflags]
        movzx   eax, word [tss_c]
        mov     [c_link], eax
        iretd
        mov     dword [c_resumed], 1
        jmp     .loop

; ---- #DF delivered through a task gate ----
t_double_fault_task:
        IDT_GATE 8, 0, TSS_D, 0x85
        and     byte [idt + 13*8 + 5], 0x7F       ; #GP gate not present
        mov     ax, 0x0FF8
        mov     es, ax                          ; #GP -> #NP -> #DF
.resume:
        clts
        mov     ax, KDATA
        mov     es, ax
        CHECK_EQ "#GP while the #GP gate is not present: #DF via task gate ran", [d_runs], 1
        CHECK_EQ "#DF task: error code 0 pushed on the new task's stack", [d_err], 0
        CHECK_EQ "#DF task: ESP after popping the error code", [d_esp], STACK_D
        CHECK_EQ "#DF task: back link", [d_link], MAIN_TSS
        mov     eax, [d_eflags]
        and     eax, 0x4000
        CHECK_EQ "#DF task: NT set", eax, 0x4000
        CHECK_EQ "#DF task: saved EIP of the interrupted task is the faulting MOV", [d_saved_eip], t_double_fault_task.fault_eip
        IDT_DEFAULT 8
        ret
.fault_eip equ .resume - 2

task_d:
        pop     eax
        mov     [d_err], eax
        mov     [d_esp], esp
        inc     dword [d_runs]
        pushfd
        pop     dword [d_eflags]
        movzx   eax, word [tss_d]
        mov     [d_link], eax
        mov     eax, [main_tss + 32]
        mov     [d_saved_eip], eax
        or      byte [idt + 13*8 + 5], 0x80       ; #GP gate present again
        mov     dword [main_tss + 32], t_double_fault_task.resume
        iretd
        jmp     task_d

; ---- 16-bit TSS ----
t_tss16:
        mov     edi, tss16
        mov     ecx, 44
        xor     eax, eax
        rep stosb
        mov     word [tss16 + 14], 0                    ; IP
        mov     word [tss16 + 16], 2                    ; FLAGS
        mov     word [tss16 + 18], 0x1616               ; AX
        mov     word [tss16 + 26], 0xFFF0               ; SP
        mov     word [tss16 + 34], KDATA                ; ES
        mov     word [tss16 + 36], CODE16               ; CS
        mov     word [tss16 + 38], STACK16              ; SS
        mov     word [tss16 + 40], KDATA                ; DS
        mov     eax, 0x77777777
        call    TSS_16:0
        clts
        CHECK_EQ "CALL to a 16-bit TSS: EAX of the caller restored", eax, 0x77777777
        CHECK_EQ "16-bit task ran with AX from its TSS", [t16_ax], 0x1616
        CHECK_EQ "16-bit task: SP from its TSS", [t16_sp], 0xFFF0
        CHECK_EQ "16-bit task: back link", [t16_link], MAIN_TSS
        CHECK_EQ "16-bit task: busy 16-bit TSS type while running", [t16_type], 0x83
        TSS_TYPE eax, 9
        CHECK_EQ "16-bit TSS available again after IRET", eax, 0x81
        movzx   eax, word [tss16 + 14]
        CHECK_EQ "16-bit TSS: IP saved after its IRET", eax, task16_start.after - task16_start
        movzx   eax, word [tss16 + 18]
        CHECK_EQ "16-bit TSS: AX saved on the way out", eax, 0x2222
        ret

bits 16
task16_start:
        a32 mov [dword t16_ax], ax
        a32 mov [dword t16_sp], sp
        a32 mov ax, [dword tss16]
        a32 mov [dword t16_link], ax
        a32 mov al, [dword gdt + 9*8 + 5]
        a32 mov [dword t16_type], al
        mov     ax, 0x2222
        iret
.after: jmp     task16_start - task16_start
bits 32

; ---- I/O permission bitmap ----
t_iobitmap:
        mov     edi, main_tss + 104
        mov     ecx, 8192 + 1
        mov     al, 0xFF
        rep stosb
        and     byte [main_tss + 104 + 0x80/8], ~(1 << (0x80 % 8))
        and     byte [main_tss + 104 + 0x84/8], ~(3 << (0x84 % 8))
        and     byte [main_tss + 104 + 0xE9/8], ~(1 << (0xE9 % 8))
        mov     ecx, 104 + 8192
        call    reload_main_tss
        RUN_USER u_io_iopl0, 0x0002
        RUN_USER u_io_iopl3, 0x3002
        ; a bitmap cut short by the TSS limit: ports past it are denied
        mov     ecx, 104 + 17
        call    reload_main_tss
        RUN_USER u_io_short, 0x0002
        CHECK_EQ "TSS limit covers bitmap byte 16: in ax, 0x84 allowed", [io_short_84], -1
        CHECK_EQ "port 0xE9's bitmap byte beyond the TSS limit: #GP", [io_short_e9], 13
        mov     ecx, 104 + 8192
        call    reload_main_tss
        ret

reload_main_tss:                ; ecx = new limit
        DESC    5, main_tss, ecx, 0x89, 0
        push    eax
        mov     ax, MAIN_TSS
        ltr     ax
        pop     eax
        ret

%macro IO_TRY 4  ; name, instruction, vector or -1, error
        EXPECT_FAULT %%r
        %2
%%r:
%if %3 == -1
        CHECK_NOFAULT %1
%else
        CHECK_FAULT %1, %3, %4
%endif
%endmacro

u_io_iopl0:
        IO_TRY  "IOPL0 ring 3: in al, 0x80 allowed by bitmap", {in al, 0x80}, -1, 0
        IO_TRY  "IOPL0 ring 3: out 0x80, al allowed by bitmap", {out 0x80, al}, -1, 0
        IO_TRY  "IOPL0 ring 3: in al, 0x81 denied: #GP(0)", {in al, 0x81}, 13, 0
        mov     dx, 0x80
        IO_TRY  "IOPL0 ring 3: in ax, 0x80 (0x81 denied): #GP(0)", {in ax, dx}, 13, 0
        mov     dx, 0x7F
        IO_TRY  "IOPL0 ring 3: in ax, 0x7F (0x7F denied): #GP(0)", {in ax, dx}, 13, 0
        mov     dx, 0x84
        IO_TRY  "IOPL0 ring 3: in ax, 0x84 (both allowed)", {in ax, dx}, -1, 0
        IO_TRY  "IOPL0 ring 3: in eax, 0x84 (0x86 denied): #GP(0)", {in eax, dx}, 13, 0
        IO_TRY  "IOPL0 ring 3: CLI: #GP(0)", {cli}, 13, 0
        IO_TRY  "IOPL0 ring 3: STI: #GP(0)", {sti}, 13, 0
        pushfd
        or      dword [esp], 0x3000
        popfd
        pushfd
        pop     eax
        and     eax, 0x3000
        CHECK_EQ "ring 3 POPFD cannot raise IOPL (silently kept)", eax, 0
        USER_EXIT

u_io_iopl3:
        IO_TRY  "IOPL3 ring 3: in al, 0x81 allowed regardless of bitmap", {in al, 0x81}, -1, 0
        IO_TRY  "IOPL3 ring 3: CLI allowed", {cli}, -1, 0
        USER_EXIT

u_io_short:
        mov     dword [resume_eip], .r1
        mov     dword [last_vec], -1
        mov     dx, 0x84
        in      ax, dx
.r1:    mov     eax, [last_vec]
        mov     [io_short_84], eax
        mov     dword [resume_eip], .r2
        mov     dword [last_vec], -1
        in      al, 0xE9
.r2:    mov     eax, [last_vec]
        mov     [io_short_e9], eax
        mov     dword [resume_eip], 0
        USER_EXIT

%include "lib-end.inc"
                alignb 16
tss_b:          resb 104
tss_c:          resb 104
tss_d:          resb 104
tss16:          resb 44
                alignb 4
b_eax:          resd 1
b_esp:          resd 1
b_cs:           resd 1
b_runs:         resd 1
b_eflags:       resd 1
b_tr:           resd 1
b_link:         resd 1
b_type_self:    resd 1
b_type_main:    resd 1
b_try_busy:     resd 1
runs_before:    resd 1
c_runs:         resd 1
c_eflags:       resd 1
c_link:         resd 1
c_resumed:      resd 1
u_task_vec:     resd 1
d_runs:         resd 1
d_err:          resd 1
d_esp:          resd 1
d_link:         resd 1
d_eflags:       resd 1
d_saved_eip:    resd 1
t16_ax:         resd 1
t16_sp:         resd 1
t16_link:       resd 1
t16_type:       resd 1
io_short_84:    resd 1
io_short_e9:    resd 1
bss_end:
