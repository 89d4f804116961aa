; x87: arithmetic (bit-exact where the double result is exact or correctly rounded,
; tolerance checks for transcendentals), FILD/FIST and rounding control, FCOM/FUCOM/
; FCOMI/FTST/FXAM, control/status/tag words, FNSTENV/FLDENV, FNSAVE/FRSTOR,
; FXSAVE/FXRSTOR layout, masked exceptions, #MF with CR0.NE=1, #NM, stack overflow
; and underflow, and checks that need the full 80-bit format (64-bit significand,
; 15-bit exponent).
%include "lib.inc"

test_name: db "x87", 0
banner:    db "pvlab cpu-tests: x87", 10, 0

; ---- helpers ----
; check_q: [esp+4] name, [esp+8] expected low, [esp+12] expected high; compares [tmpq]
check_q:
        pushfd
        pushad
        mov     eax, [tmpq]
        mov     edx, [tmpq + 4]
        cmp     eax, [esp + 44]
        jne     .f
        cmp     edx, [esp + 48]
        jne     .f
        inc     dword [n_pass]
        PRINT   "PASS "
        mov     esi, [esp + 40]
        call    print_str
        call    nl
        jmp     .d
.f:     inc     dword [n_fail]
        PRINT   "FAIL "
        mov     esi, [esp + 40]
        call    print_str
        PRINT   ": got "
        mov     eax, [tmpq + 4]
        call    print_hex
        PRINT   "_"
        mov     eax, [tmpq]
        call    print_hex
        PRINT   " expected "
        mov     eax, [esp + 48]
        call    print_hex
        PRINT   "_"
        mov     eax, [esp + 44]
        call    print_hex
        call    nl
.d:     popad
        popfd
        ret     12

; FST_EQ name, double literal: pops ST0 as a double and compares the bits
%macro FST_EQ 2
        fstp    qword [tmpq]
        FQ_EQ   %1, (__?float64?__(%2) >> 32), (__?float64?__(%2) & 0xFFFFFFFF)
%endmacro
; FQ_EQ name, high, low: compares [tmpq] with the given bits
%macro FQ_EQ 3
        jmp     %%a
%%s:    db %1, 0
%%a:    push    dword %2
        push    dword %3
        push    dword %%s
        call    check_q
%endmacro
; FSTB_EQ name, high, low: pops ST0 as a double and compares with raw bits
%macro FSTB_EQ 3
        fstp    qword [tmpq]
        FQ_EQ   %1, %2, %3
%endmacro

; FNEAR name, expected, eps: pops ST0, passes when |ST0 - expected| < eps
%macro FNEAR 3
        jmp     %%a
%%e:    dq      %2
%%eps:  dq      %3
%%a:    fsub    qword [%%e]
        fabs
        fcomp   qword [%%eps]
        push    eax
        fnstsw  ax
        and     ax, 0x4500
        cmp     ax, 0x0100              ; C0 only: ST < eps, ordered
        pop     eax
        CHECK   e, %1
%endmacro

; SW_EQ name, mask, value: checks (status word & mask)
%macro SW_EQ 3
        xor     eax, eax
        fnstsw  ax
        and     eax, %2
        CHECK_EQ %1, eax, %3
%endmacro

%macro FLDQ 1   ; push a double literal
        jmp     %%a
%%v:    dq      %1
%%a:    fld     qword [%%v]
%endmacro

SW_IE equ 0x01
SW_DE equ 0x02
SW_ZE equ 0x04
SW_OE equ 0x08
SW_UE equ 0x10
SW_PE equ 0x20
SW_SF equ 0x40
SW_ES equ 0x80
SW_C0 equ 0x100
SW_C1 equ 0x200
SW_C2 equ 0x400
SW_C3 equ 0x4000
SW_CC equ 0x4500

test_main:
        mov     eax, cr0
        and     eax, ~(4 | 8)           ; EM=0, TS=0
        or      eax, 2 | 0x20           ; MP=1, NE=1
        mov     cr0, eax
        call    t_init_words
        call    t_arith
        call    t_transcendental
        call    t_int_rounding
        call    t_compare
        call    t_fxam
        call    t_env
        call    t_fsave
        call    t_fxsave
        call    t_masked
        call    t_stack_faults
        call    t_mf_nm
        call    t_80bit
        ret

; ---- FNINIT state, control/status/tag words ----
t_init_words:
        fninit
        fnstcw  [tmpw]
        movzx   eax, word [tmpw]
        CHECK_EQ "FNINIT: control word 0x037F", eax, 0x037F
        SW_EQ   "FNINIT: status word 0", 0xFFFF, 0
        fnstenv [env]
        movzx   eax, word [env + 8]
        CHECK_EQ "FNINIT: tag word all empty", eax, 0xFFFF
        fld1
        SW_EQ   "one push: TOP=7", 0x3800, 0x3800
        fldz
        SW_EQ   "two pushes: TOP=6", 0x3800, 0x3000
        fnstenv [env]
        movzx   eax, word [env + 8]
        CHECK_EQ "tag word: ST0 zero (01), ST1 valid (00), rest empty", eax, 0x1FFF
        fldcw   [cw_chop]
        fnstcw  [tmpw]
        movzx   eax, word [tmpw]
        CHECK_EQ "FLDCW/FNSTCW round trip", eax, 0x0F7F
        fldcw   [cw_default]
        fstp    st0
        fstp    st0
        SW_EQ   "two pops: TOP=0", 0x3800, 0
        xor     eax, eax
        fnstsw  ax
        mov     [tmpw], ax
        fninit
        ret

; ---- arithmetic ----
t_arith:
        fninit
        fld1
        fld1
        faddp
        FST_EQ  "1 + 1 = 2", 2.0
        FLDQ    1.5
        fmul    qword [c_2_25]
        FST_EQ  "1.5 * 2.25 = 3.375", 3.375
        FLDQ    10.0
        fdiv    qword [c_4]
        FST_EQ  "10 / 4 = 2.5", 2.5
        FLDQ    7.0
        fsub    qword [c_2_5]
        FST_EQ  "7 - 2.5 = 4.5", 4.5
        FLDQ    7.0
        fsubr   qword [c_2_5]
        FST_EQ  "FSUBR: 2.5 - 7 = -4.5", -4.5
        FLDQ    2.0
        fdivr   qword [c_4]
        FST_EQ  "FDIVR: 4 / 2 = 2", 2.0
        FLDQ    2.25
        fsqrt
        FST_EQ  "sqrt(2.25) = 1.5", 1.5
        FLDQ    2.0
        fsqrt
        FST_EQ  "sqrt(2) rounded to double", 1.4142135623730951
        fld1
        FLDQ    3.0
        fdivp
        FST_EQ  "1 / 3 rounded to double", 0.3333333333333333
        FLDQ    0.1
        FLDQ    0.2
        faddp
        FST_EQ  "0.1 + 0.2 rounded to double", 0.30000000000000004
        FLDQ    -3.5
        fabs
        FST_EQ  "FABS", 3.5
        FLDQ    3.5
        fchs
        FST_EQ  "FCHS", -3.5
        FLDQ    3.0
        FLDQ    10.0
        fprem
        SW_EQ   "FPREM complete: C2=0", SW_C2, 0
        FST_EQ  "FPREM 10 mod 3 = 1", 1.0
        fstp    st0
        FLDQ    3.0
        FLDQ    1.5
        fscale
        FST_EQ  "FSCALE 1.5 * 2^3 = 12", 12.0
        fstp    st0
        FLDQ    12.0
        fxtract
        FST_EQ  "FXTRACT significand of 12 = 1.5", 1.5
        FST_EQ  "FXTRACT exponent of 12 = 3", 3.0
        FLDQ    -0.0
        fsqrt
        FSTB_EQ "sqrt(-0) = -0", 0x80000000, 0
        ; integer-operand forms
        FLDQ    2.5
        fimul   dword [i32_m7]
        FST_EQ  "FIMUL 2.5 * -7 = -17.5", -17.5
        FLDQ    1.0
        fiadd   word [i16_100]
        FST_EQ  "FIADD 1 + 100 = 101", 101.0
        ; register forms and FXCH
        fld1
        FLDQ    4.0
        fxch    st1
        FST_EQ  "FXCH: ST0 was 1", 1.0
        FST_EQ  "FXCH: ST1 was 4", 4.0
        FLDQ    6.0
        FLDQ    2.0
        fdiv    st1, st0
        fstp    st0
        FST_EQ  "FDIV st1, st0: 6 / 2", 3.0
        ; constants
        fldpi
        FST_EQ  "FLDPI as double", 3.141592653589793
        fldl2e
        FST_EQ  "FLDL2E as double", 1.4426950408889634
        fldl2t
        FST_EQ  "FLDL2T as double", 3.321928094887362
        fldlg2
        FST_EQ  "FLDLG2 as double", 0.3010299956639812
        fldln2
        FST_EQ  "FLDLN2 as double", 0.6931471805599453
        fldz
        FST_EQ  "FLDZ", 0.0
        ; FRNDINT with rounding control
        FLDQ    2.5
        frndint
        FST_EQ  "FRNDINT 2.5 nearest-even = 2", 2.0
        fldcw   [cw_up]
        FLDQ    2.1
        frndint
        FST_EQ  "FRNDINT 2.1 up = 3", 3.0
        fldcw   [cw_down]
        FLDQ    -2.1
        frndint
        FST_EQ  "FRNDINT -2.1 down = -3", -3.0
        fldcw   [cw_chop]
        FLDQ    -2.9
        frndint
        FST_EQ  "FRNDINT -2.9 chop = -2", -2.0
        fldcw   [cw_default]
        ; precision control: 53-bit rounding of 1 + 2^-60 gives 1
        fldcw   [cw_pc53]
        fld1
        fld     qword [c_2m60]
        faddp
        fld1
        fcompp
        SW_EQ   "PC=53 bits: 1 + 2^-60 == 1", SW_CC, SW_C3
        fldcw   [cw_default]
        ret

; ---- transcendentals (tolerance) ----
t_transcendental:
        fninit
        FLDQ    0.5
        fsin
        FNEAR   "FSIN(0.5)", 0.479425538604203, 1e-14
        FLDQ    0.5
        fcos
        FNEAR   "FCOS(0.5)", 0.8775825618903728, 1e-14
        FLDQ    0.5
        fsincos
        FNEAR   "FSINCOS(0.5): cos in ST0", 0.8775825618903728, 1e-14
        FNEAR   "FSINCOS(0.5): sin in ST1", 0.479425538604203, 1e-14
        FLDQ    0.5
        fptan
        FST_EQ  "FPTAN pushes 1.0", 1.0
        FNEAR   "FPTAN(0.5)", 0.5463024898437905, 1e-14
        fld1
        fld1
        fpatan
        FNEAR   "FPATAN(1, 1) = pi/4", 0.7853981633974483, 1e-14
        FLDQ    0.5
        f2xm1
        FNEAR   "F2XM1(0.5) = sqrt(2) - 1", 0.41421356237309503, 1e-14
        fld1
        FLDQ    8.0
        fyl2x
        FNEAR   "FYL2X(8, 1) = 3", 3.0, 1e-15
        fld1
        FLDQ    0.25
        fyl2xp1
        FNEAR   "FYL2XP1(0.25, 1) = log2(1.25)", 0.32192809488736235, 1e-14
        FLDQ    0.0
        fsin
        FST_EQ  "FSIN(0) = 0 exactly", 0.0
        FLDQ    0.0
        fcos
        FST_EQ  "FCOS(0) = 1 exactly", 1.0
        FLDQ    1e300
        fsin
        SW_EQ   "FSIN(1e300) out of range: C2=1, operand kept", SW_C2, SW_C2
        FST_EQ  "FSIN out of range leaves ST0 unchanged", 1e300
        ret

; ---- integer load/store and rounding ----
%macro FIST_RC 4   ; name, control word label, double literal, expected int32
        fldcw   [%2]
        FLDQ    %3
        fistp   dword [tmpd]
        CHECK_EQ %1, [tmpd], %4
%endmacro

t_int_rounding:
        fninit
        fild    dword [i32_m7]
        fistp   word [tmpw]
        movsx   eax, word [tmpw]
        CHECK_EQ "FILD m32 -7 -> FISTP m16", eax, -7
        fild    qword [i64_big]
        fistp   qword [tmpq]
        FQ_EQ   "FILD/FISTP m64 2^40+3", 0x100, 3
        fild    word [i16_100]
        FST_EQ  "FILD m16 100", 100.0
        FIST_RC "FIST 2.5 nearest = 2", cw_default, 2.5, 2
        FIST_RC "FIST 3.5 nearest = 4", cw_default, 3.5, 4
        FIST_RC "FIST -2.5 nearest = -2", cw_default, -2.5, -2
        FIST_RC "FIST 2.5 down = 2", cw_down, 2.5, 2
        FIST_RC "FIST -2.5 down = -3", cw_down, -2.5, -3
        FIST_RC "FIST 2.5 up = 3", cw_up, 2.5, 3
        FIST_RC "FIST -2.5 up = -2", cw_up, -2.5, -2
        FIST_RC "FIST 2.7 chop = 2", cw_chop, 2.7, 2
        FIST_RC "FIST -2.7 chop = -2", cw_chop, -2.7, -2
        fldcw   [cw_default]
        fnclex
        FLDQ    2.5
        fistp   dword [tmpd]
        SW_EQ   "inexact FIST sets PE", SW_PE, SW_PE
        fnclex
        FLDQ    3e9
        fistp   dword [tmpd]
        CHECK_EQ "FIST m32 out of range: integer indefinite", [tmpd], 0x80000000
        SW_EQ   "FIST out of range sets IE", SW_IE, SW_IE
        fnclex
        FLDQ    40000.0
        fistp   word [tmpw]
        movzx   eax, word [tmpw]
        CHECK_EQ "FIST m16 out of range: 0x8000", eax, 0x8000
        fnclex
        FLDQ    -1.0
        fist    dword [tmpd]
        CHECK_EQ "FIST (no pop) -1", [tmpd], -1
        SW_EQ   "FIST without pop keeps TOP", 0x3800, 0x3800
        fstp    st0
        ret

; ---- comparisons ----
%macro FCOM_CC 4   ; name, st0 literal, st1 literal, expected C3|C2|C0
        fninit
        FLDQ    %3
        FLDQ    %2
        fcom    st1
        SW_EQ   %1, SW_CC, %4
%endmacro
%macro FCOMI_F 4   ; name, st0, st1, expected ZF|PF|CF (as EFLAGS bits)
        fninit
        FLDQ    %3
        FLDQ    %2
        fcomi   st0, st1
        pushfd
        pop     eax
        and     eax, 0x45
        CHECK_EQ %1, eax, %4
%endmacro

t_compare:
        FCOM_CC "FCOM 1 < 2: C0", 1.0, 2.0, SW_C0
        FCOM_CC "FCOM 2 > 1: none", 2.0, 1.0, 0
        FCOM_CC "FCOM 2 = 2: C3", 2.0, 2.0, SW_C3
        FCOM_CC "FCOM -0 = +0: C3", -0.0, 0.0, SW_C3
        fninit
        fld     qword [c_qnan]
        fld1
        fcom    st1
        SW_EQ   "FCOM with QNaN: unordered C3|C2|C0", SW_CC, SW_CC
        SW_EQ   "FCOM with QNaN raises IE", SW_IE, SW_IE
        fninit
        fld     qword [c_qnan]
        fld1
        fucom   st1
        SW_EQ   "FUCOM with QNaN: unordered", SW_CC, SW_CC
        SW_EQ   "FUCOM with QNaN: no IE", SW_IE, 0
        fninit
        fld     qword [c_snan]
        fld1
        fucom   st1
        SW_EQ   "FUCOM with SNaN raises IE", SW_IE, SW_IE
        FCOMI_F "FCOMI 1 < 2: CF", 1.0, 2.0, 0x01
        FCOMI_F "FCOMI 2 > 1: none", 2.0, 1.0, 0
        FCOMI_F "FCOMI 2 = 2: ZF", 2.0, 2.0, 0x40
        fninit
        fld     qword [c_qnan]
        fld1
        fucomi  st0, st1
        pushfd
        pop     eax
        and     eax, 0x45
        CHECK_EQ "FUCOMI unordered: ZF|PF|CF", eax, 0x45
        fninit
        FLDQ    2.0
        FLDQ    1.0
        fcomip  st0, st1
        SW_EQ   "FCOMIP pops once", 0x3800, 0x3800
        fninit
        FLDQ    -3.0
        ftst
        SW_EQ   "FTST -3: C0", SW_CC, SW_C0
        fninit
        fldz
        ftst
        SW_EQ   "FTST 0: C3", SW_CC, SW_C3
        fninit
        FLDQ    5.0
        FLDQ    3.0
        fcompp
        SW_EQ   "FCOMPP 3 < 5 and pops both", SW_CC | 0x3800, SW_C0
        fninit
        FLDQ    5.0
        ficom   dword [i32_m7]
        SW_EQ   "FICOM 5 > -7", SW_CC, 0
        ret

; ---- FXAM ----
%macro FXAM_IS 3  ; name, load instruction, expected C3|C2|C1|C0
        fninit
        %2
        fxam
        SW_EQ   %1, SW_CC | SW_C1, %3
%endmacro
t_fxam:
        FXAM_IS "FXAM +0: zero", {fldz}, SW_C3
        FXAM_IS "FXAM -0: zero, C1 sign", {fld qword [c_m0]}, SW_C3 | SW_C1
        FXAM_IS "FXAM 1: normal", {fld1}, SW_C2
        FXAM_IS "FXAM -inf: infinity, sign", {fld qword [c_minf]}, SW_C2 | SW_C0 | SW_C1
        FXAM_IS "FXAM NaN", {fld qword [c_qnan]}, SW_C0
        FXAM_IS "FXAM empty register", {nop}, SW_C3 | SW_C0
        ret

; ---- FNSTENV / FLDENV ----
t_env:
        fninit
        fld1
        fldz
.fadd:  fadd    st0, st1
        fnstenv [env]
        movzx   eax, word [env]
        CHECK_EQ "FNSTENV: FCW", eax, 0x037F
        movzx   eax, word [env + 4]
        CHECK_EQ "FNSTENV: FSW (TOP=6)", eax, 0x3000
        movzx   eax, word [env + 8]
        CHECK_EQ "FNSTENV: FTW (two valid)", eax, 0x0FFF
        CHECK_EQ "FNSTENV: FIP is the last FPU instruction", [env + 12], .fadd
        movzx   eax, word [env + 16]
        CHECK_EQ "FNSTENV: FCS", eax, KCODE
        UNLESS_WORD "no-fpu-opcode", "FNSTENV opcode field"
        mov     eax, [env + 16]
        shr     eax, 16
        and     eax, 0x7FF
        CHECK_EQ "FNSTENV: opcode of FADD st0, st1 (D8 C1)", eax, 0x0C1
        END_UNLESS
        fnstcw  [tmpw]
        movzx   eax, word [tmpw]
        and     eax, 0x3F
        CHECK_EQ "FNSTENV masks all exceptions afterwards", eax, 0x3F
        ; FLDENV: new control word, a TOP of 6 with tags
        mov     word [env], 0x0C7F              ; RC=chop, PC=24 bits, all masked
        mov     word [env + 4], 0x3000 | SW_C3
        fldenv  [env]
        fnstcw  [tmpw]
        movzx   eax, word [tmpw]
        CHECK_EQ "FLDENV loads the control word", eax, 0x0C7F
        SW_EQ   "FLDENV loads the status word", 0xFFFF, 0x3000 | SW_C3
        FST_EQ  "FLDENV keeps the registers: ST0", 1.0
        FST_EQ  "FLDENV keeps the registers: ST1", 1.0
        fninit
        ret

; ---- FNSAVE / FRSTOR ----
t_fsave:
        fninit
        fld1
        FLDQ    3.0
        fnsave  [save]
        mov     eax, [save + 28]
        CHECK_EQ "FNSAVE: ST0 (3.0) mantissa low", eax, 0
        mov     eax, [save + 32]
        CHECK_EQ "FNSAVE: ST0 (3.0) mantissa high", eax, 0xC0000000
        movzx   eax, word [save + 36]
        CHECK_EQ "FNSAVE: ST0 (3.0) sign/exponent", eax, 0x4000
        mov     eax, [save + 42]
        CHECK_EQ "FNSAVE: ST1 (1.0) mantissa high", eax, 0x80000000
        movzx   eax, word [save + 46]
        CHECK_EQ "FNSAVE: ST1 (1.0) exponent", eax, 0x3FFF
        movzx   eax, word [save + 8]
        CHECK_EQ "FNSAVE: tag word", eax, 0x0FFF
        fnstcw  [tmpw]
        movzx   eax, word [tmpw]
        CHECK_EQ "FNSAVE reinitialises: FCW", eax, 0x037F
        SW_EQ   "FNSAVE reinitialises: FSW", 0xFFFF, 0
        ; change ST0 in the image to 2.5 and reload
        mov     dword [save + 32], 0xA0000000
        frstor  [save]
        SW_EQ   "FRSTOR: TOP=6", 0x3800, 0x3000
        FST_EQ  "FRSTOR: ST0 from the edited image", 2.5
        FST_EQ  "FRSTOR: ST1", 1.0
        ret

; ---- FXSAVE / FXRSTOR ----
t_fxsave:
        mov     eax, 1
        cpuid
        test    edx, 1 << 24
        jnz     .have
        SKIP    "FXSAVE/FXRSTOR checks", "CPUID.1:EDX.FXSR not reported"
        ret
.have:  mov     eax, cr4
        or      eax, 0x200                      ; OSFXSR
        mov     cr4, eax
        fninit
        fld1
        FLDQ    3.0
.fld3:  fxsave  [fxarea]
        movzx   eax, word [fxarea]
        CHECK_EQ "FXSAVE: FCW", eax, 0x037F
        movzx   eax, word [fxarea + 2]
        CHECK_EQ "FXSAVE: FSW", eax, 0x3000
        movzx   eax, byte [fxarea + 4]
        CHECK_EQ "FXSAVE: abridged tag (regs 6, 7 valid)", eax, 0xC0
        UNLESS_WORD "no-fxsave-fip", "FXSAVE FIP field"
        mov     eax, [fxarea + 8]
        CHECK_EQ "FXSAVE: FIP", eax, .fld3 - 6
        END_UNLESS
        mov     eax, [fxarea + 36]
        CHECK_EQ "FXSAVE: ST0 (3.0) at offset 32, mantissa high", eax, 0xC0000000
        movzx   eax, word [fxarea + 40]
        CHECK_EQ "FXSAVE: ST0 exponent at offset 40", eax, 0x4000
        mov     eax, [fxarea + 52]
        CHECK_EQ "FXSAVE: ST1 (1.0) at offset 48", eax, 0x80000000
        SW_EQ   "FXSAVE does not reinitialise", 0x3800, 0x3000
        mov     dword [fxarea + 36], 0xA0000000 ; ST0 = 2.5
        mov     word [fxarea], 0x0C7F
        fxrstor [fxarea]
        fnstcw  [tmpw]
        movzx   eax, word [tmpw]
        CHECK_EQ "FXRSTOR: FCW", eax, 0x0C7F
        fldcw   [cw_default]
        FST_EQ  "FXRSTOR: ST0 from the edited image", 2.5
        FST_EQ  "FXRSTOR: ST1", 1.0
        mov     byte [fxarea + 4], 0            ; all empty
        fxrstor [fxarea]
        fxam
        SW_EQ   "FXRSTOR with abridged tag 0: ST0 empty", SW_CC, SW_C3 | SW_C0
        fninit
        ret

; ---- masked exceptions ----
t_masked:
        fninit
        fld1
        fldz
        fdivp
        SW_EQ   "1/0 masked: ZE, no ES", 0xBF, SW_ZE
        FSTB_EQ "1/0 masked: +inf", 0x7FF00000, 0
        fninit
        FLDQ    -1.0
        fsqrt
        SW_EQ   "sqrt(-1) masked: IE", 0x3F, SW_IE
        FSTB_EQ "sqrt(-1) masked: real indefinite", 0xFFF80000, 0
        fninit
        fld1
        FLDQ    3.0
        fdivp
        SW_EQ   "1/3: PE only", 0x3F, SW_PE
        fstp    st0
        fninit
        FLDQ    1e308
        fmul    qword [c_1e308]
        fstp    qword [tmpq]
        SW_EQ   "1e308^2 stored as double: OE and PE", SW_OE | SW_PE, SW_OE | SW_PE
        FQ_EQ   "1e308^2 stored as double: +inf", 0x7FF00000, 0
        fninit
        FLDQ    1e-300
        fmul    qword [c_1em300]
        fstp    qword [tmpq]
        SW_EQ   "1e-600 stored as double: UE and PE", SW_UE | SW_PE, SW_UE | SW_PE
        FQ_EQ   "1e-600 stored as double: +0", 0, 0
        UNLESS_WORD "no-fpu-de", "DE on loading a denormal double"
        fninit
        fld     qword [c_denorm]
        SW_EQ   "load of a denormal double: DE", SW_DE, SW_DE
        fstp    st0
        END_UNLESS
        fninit
        fld1
        fldz
        fdivp
        fnclex
        SW_EQ   "FNCLEX clears the flags", 0x80FF, 0
        fstp    st0
        ret

; ---- stack overflow / underflow ----
t_stack_faults:
        UNLESS_WORD "no-fpu-stack-faults", "x87 stack overflow/underflow checks"
        fninit
        mov     ecx, 8
.push:  fld1
        loop    .push
        SW_EQ   "8 pushes: no fault", 0xFF, 0
        fldz
        SW_EQ   "9th push: stack overflow IE|SF with C1=1", SW_IE | SW_SF | SW_C1, SW_IE | SW_SF | SW_C1
        FSTB_EQ "stack overflow result: indefinite", 0xFFF80000, 0
        fninit
        fadd    st0, st1
        SW_EQ   "FADD on empty registers: underflow IE|SF with C1=0", SW_IE | SW_SF | SW_C1, SW_IE | SW_SF
        fninit
        fstp    qword [tmpq]
        SW_EQ   "FSTP of an empty ST0: IE|SF", SW_IE | SW_SF, SW_IE | SW_SF
        FQ_EQ   "FSTP of an empty ST0 stores indefinite", 0xFFF80000, 0
        END_UNLESS
        fninit
        ffree   st0
        fld1
        ffree   st0
        fxam
        SW_EQ   "FFREE empties the register", SW_CC, SW_C3 | SW_C0
        fninit
        fdecstp
        SW_EQ   "FDECSTP: TOP=7", 0x3800, 0x3800
        fincstp
        SW_EQ   "FINCSTP: TOP=0", 0x3800, 0
        ret

; ---- #MF (CR0.NE=1) and #NM ----
t_mf_nm:
        fninit
        fldcw   [cw_unmask_ze]
        fld1
        fldz
        fdivp
        SW_EQ   "unmasked ZE: ZE, ES and B set", 0x80BF, 0x8084
        EXPECT_FAULT .r1
.wait:  fwait
.r1:    CHECK_FAULT "pending unmasked exception: #MF at the next FWAIT", 16, 0
        CHECK_EQ "#MF EIP is the FWAIT", [last_eip], .wait
        fnclex
        fninit
        mov     eax, cr0
        or      eax, 8                          ; TS
        mov     cr0, eax
        EXPECT_FAULT .r2
        fld1
.r2:    CHECK_FAULT "CR0.TS=1: FPU instruction #NM", 7, 0
        EXPECT_FAULT .r3
        fwait
.r3:    CHECK_FAULT "CR0.TS=1, MP=1: FWAIT #NM", 7, 0
        mov     eax, cr0
        and     eax, ~2                         ; MP=0
        mov     cr0, eax
        EXPECT_FAULT .r4
        fwait
.r4:    CHECK_NOFAULT "CR0.TS=1, MP=0: FWAIT runs"
        mov     eax, cr0
        or      eax, 2 | 4                      ; MP=1, EM=1
        and     eax, ~8
        mov     cr0, eax
        EXPECT_FAULT .r5
        fld1
.r5:    CHECK_FAULT "CR0.EM=1: FPU instruction #NM", 7, 0
        mov     eax, cr0
        and     eax, ~4
        mov     cr0, eax
        fninit
        ret

; ---- checks that need the 80-bit format ----
t_80bit:
        fninit
        fld1
        fld     qword [c_2m60]
        faddp
        fld1
        fcompp
        xor     eax, eax
        fnstsw  ax
        and     eax, SW_CC
        CHECK_EQ "1 + 2^-60 > 1 (64-bit mantissa)", eax, SW_C0
        fild    qword [i64_max]
        fistp   qword [tmpq]
        CHECK_EQ "FILD/FISTP m64 2^63-1 exact (low)", [tmpq], 0xFFFFFFFF
        CHECK_EQ "FILD/FISTP m64 2^63-1 exact (high)", [tmpq + 4], 0x7FFFFFFF
        fldpi
        fstp    tword [tmpt]
        CHECK_EQ "FLDPI as 80 bits (mantissa low)", [tmpt], 0x2168C235
        CHECK_EQ "FLDPI as 80 bits (mantissa high)", [tmpt + 4], 0xC90FDAA2
        movzx   eax, word [tmpt + 8]
        CHECK_EQ "FLDPI as 80 bits (exponent)", eax, 0x4000
        fld     tword [t_odd]
        fstp    tword [tmpt]
        CHECK_EQ "FLD/FSTP m80 keeps all 64 mantissa bits", [tmpt], 0xFFFFFFFF
        FLDQ    1e308
        fmul    qword [c_10]
        fdiv    qword [c_10]
        fstp    qword [tmpq]
        CHECK_EQ "1e308 * 10 / 10: 15-bit exponent, no overflow (high)", [tmpq + 4], (__?float64?__(1e308) >> 32)
        fninit
        fld     qword [c_denorm]
        fxam
        xor     eax, eax
        fnstsw  ax
        and     eax, SW_CC
        CHECK_EQ "a double denormal is normal in 80 bits (FXAM)", eax, SW_C2
        fninit
        fld1
        FLDQ    3.0
        fdivp
        fstp    tword [tmpt]
        CHECK_EQ "1/3 in 80 bits (mantissa low)", [tmpt], 0xAAAAAAAB
        fninit
        ret

        align   8
c_2_25:     dq 2.25
c_4:        dq 4.0
c_2_5:      dq 2.5
c_10:       dq 10.0
c_1e308:    dq 1e308
c_1em300:   dq 1e-300
c_2m60:     dq 0x1p-60
c_m0:       dq -0.0
c_minf:     dq 0xFFF0000000000000
c_qnan:     dq 0x7FF8000000000000
c_snan:     dq 0x7FF0000000000001
c_denorm:   dq 0x0000000000000001
i64_big:    dq 0x0000010000000003
i64_max:    dq 0x7FFFFFFFFFFFFFFF
i32_m7:     dd -7
i16_100:    dw 100
t_odd:      dq 0xFFFFFFFFFFFFFFFF
            dw 0x3FFF
cw_default: dw 0x037F
cw_down:    dw 0x077F
cw_up:      dw 0x0B7F
cw_chop:    dw 0x0F7F
cw_pc53:    dw 0x027F
cw_unmask_ze: dw 0x037B

%include "lib-end.inc"
                alignb 16
fxarea:         resb 512
save:           resb 108
env:            resb 28
                alignb 8
tmpq:           resq 1
tmpt:           resb 10
                alignb 4
tmpd:           resd 1
tmpw:           resd 1
bss_end:
