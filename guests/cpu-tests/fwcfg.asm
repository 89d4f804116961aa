; fwcfg: QEMU's firmware configuration interface (ports 0x510/0x511, DMA at 0x514/0x518)
; as QEMU-style test kernels use it: the signature, the feature word, the CPU count, the
; RAM size (against the Multiboot memory fields), the file directory and its "etc/e820"
; file, reads past an item's end, and a DMA read. This kernel also loads below 1 MiB
; (at 0x10000), which a Multiboot loader must allow as long as the memory is not reserved.
%define LOAD_ADDR 0x10000
%include "lib.inc"

test_name: db "fwcfg", 0
banner:    db "pvlab cpu-tests: fwcfg", 10, 0

FW_SEL  equ 0x510
FW_DATA equ 0x511
FW_DMA  equ 0x514
K_SIGNATURE equ 0x00
K_ID        equ 0x01
K_RAM_SIZE  equ 0x03
K_NB_CPUS   equ 0x05
K_MAX_CPUS  equ 0x0f
K_FILE_DIR  equ 0x19
DMA_SELECT  equ 0x08
DMA_READ    equ 0x02
DMA_ERROR   equ 0x01

; fw_select: ax = key
fw_select:
        push    edx
        mov     dx, FW_SEL
        out     dx, ax
        pop     edx
        ret
; fw_read: ecx = byte count (1-4) → eax, the bytes in order (little-endian)
fw_read:
        push    ecx
        push    edx
        push    edi
        mov     dword [fw_acc], 0
        mov     edi, fw_acc
        mov     dx, FW_DATA
.l:     in      al, dx
        stosb
        loop    .l
        mov     eax, [fw_acc]
        pop     edi
        pop     edx
        pop     ecx
        ret
; fw_read_be32 → eax (big-endian item field)
fw_read_be32:
        push    ecx
        mov     ecx, 4
        call    fw_read
        bswap   eax
        pop     ecx
        ret

test_main:
        ; the signature
        mov     ax, K_SIGNATURE
        call    fw_select
        mov     ecx, 4
        call    fw_read
        CHECK_EQ "signature is QEMU", eax, 'QEMU'
        mov     ecx, 1
        call    fw_read
        CHECK_EQ "a read past the end of an item gives 0", eax, 0
        mov     ax, K_SIGNATURE
        call    fw_select
        mov     ecx, 1
        call    fw_read
        CHECK_EQ "selecting again restarts at offset 0", eax, 'Q'

        ; the feature word: bit 0 traditional interface, bit 1 DMA
        mov     ax, K_ID
        call    fw_select
        mov     ecx, 4
        call    fw_read
        mov     [fw_id], eax
        and     eax, 1
        CHECK_EQ "FW_CFG_ID: the traditional interface", eax, 1

        ; CPUs
        mov     ax, K_NB_CPUS
        call    fw_select
        mov     ecx, 2
        call    fw_read
        mov     [nb_cpus], eax
        PRINT   "INFO fw_cfg CPUs: "
        call    print_dec
        call    nl
        CHECK_EQ "FW_CFG_NB_CPUS: one vCPU", [nb_cpus], 1
        mov     ax, K_MAX_CPUS
        call    fw_select
        mov     ecx, 2
        call    fw_read
        cmp     eax, [nb_cpus]
        CHECK   ae, "FW_CFG_MAX_CPUS >= FW_CFG_NB_CPUS"

        ; RAM size against the Multiboot mem_upper (KiB above 1 MiB)
        mov     ax, K_RAM_SIZE
        call    fw_select
        mov     ecx, 4
        call    fw_read
        mov     [ram_lo], eax
        mov     ecx, 4
        call    fw_read
        CHECK_EQ "FW_CFG_RAM_SIZE: below 4 GiB", eax, 0
        ; mem_upper may stop short of the top of RAM (QEMU keeps back 128 KiB)
        mov     ebx, [mb_info]
        mov     eax, [ebx + 8]
        shl     eax, 10
        add     eax, 0x100000
        mov     ecx, [ram_lo]
        sub     ecx, eax
        cmp     ecx, 0x100000
        CHECK   b, "FW_CFG_RAM_SIZE is within 1 MiB above Multiboot mem_upper + 1 MiB"

        ; the file directory: find etc/e820
        mov     ax, K_FILE_DIR
        call    fw_select
        call    fw_read_be32
        mov     [nfiles], eax
        cmp     eax, 1
        CHECK   ae, "file directory: at least one file"
        mov     dword [e820_sel], 0
        mov     esi, [nfiles]
.file:  test    esi, esi
        jz      .dir_done
        dec     esi
        call    fw_read_be32
        mov     [fsize], eax
        mov     ecx, 2
        call    fw_read
        xchg    al, ah
        mov     [fsel], eax
        mov     ecx, 2
        call    fw_read                 ; reserved
        mov     edi, fname
        mov     ebx, 56
.name:  mov     ecx, 1
        call    fw_read
        stosb
        dec     ebx
        jnz     .name
        mov     edi, fname
        mov     ecx, e820_name_len
        push    esi
        mov     esi, e820_name
        repe cmpsb
        pop     esi
        jne     .file
        mov     eax, [fsel]
        mov     [e820_sel], eax
        mov     eax, [fsize]
        mov     [e820_size], eax
        jmp     .file
.dir_done:
        cmp     dword [e820_sel], 0x20
        CHECK   ae, "file directory lists etc/e820 at a file selector"
        mov     eax, [e820_size]
        xor     edx, edx
        mov     ecx, 20
        div     ecx
        CHECK_EQ "etc/e820: a whole number of 20-byte entries", edx, 0
        mov     [n_e820], eax
        ; look for the RAM entry that covers 1 MiB and ends at the RAM size
        mov     ax, [e820_sel]
        call    fw_select
        mov     esi, [n_e820]
        mov     dword [found], 0
.ent:   test    esi, esi
        jz      .ent_done
        dec     esi
        mov     ecx, 4
        call    fw_read
        mov     ebx, eax                ; address low
        mov     ecx, 4
        call    fw_read                 ; address high
        mov     ecx, 4
        call    fw_read
        mov     edi, eax                ; length low
        mov     ecx, 4
        call    fw_read                 ; length high
        mov     ecx, 4
        call    fw_read                 ; type
        cmp     eax, 1
        jne     .ent
        cmp     ebx, 0x100000
        ja      .ent
        add     edi, ebx
        cmp     edi, [ram_lo]
        jne     .ent
        mov     dword [found], 1
        jmp     .ent
.ent_done:
        CHECK_EQ "etc/e820: a RAM entry from at most 1 MiB up to the RAM size", [found], 1

        ; an unknown key reads as 0
        mov     ax, 0x3ff0
        call    fw_select
        mov     ecx, 4
        call    fw_read
        CHECK_EQ "an unknown key reads as 0", eax, 0

        ; DMA
        test    dword [fw_id], 2
        jz      .nodma
        mov     dx, FW_DMA
        in      eax, dx
        CHECK_EQ "DMA register reads QEMU ('Q' at 0x514)", eax, 'QEMU'
        mov     dx, FW_DMA + 4
        in      eax, dx
        CHECK_EQ "DMA register then reads ' CFG'", eax, ' CFG'
        mov     dword [dma_buf], 0
        mov     eax, (K_SIGNATURE << 16) | DMA_SELECT | DMA_READ
        bswap   eax
        mov     [dma_ctl], eax
        mov     eax, 4
        bswap   eax
        mov     [dma_len], eax
        mov     dword [dma_addr], 0
        mov     eax, dma_buf
        bswap   eax
        mov     [dma_addr + 4], eax
        xor     eax, eax
        mov     dx, FW_DMA
        out     dx, eax
        mov     eax, dma_ctl
        bswap   eax
        mov     dx, FW_DMA + 4
        out     dx, eax
        CHECK_EQ "DMA select+read of the signature: control cleared", [dma_ctl], 0
        CHECK_EQ "DMA select+read of the signature: the bytes", [dma_buf], 'QEMU'
        ret
.nodma: SKIP    "DMA", "FW_CFG_ID has no DMA bit"
        ret

e820_name:      db "etc/e820", 0
e820_name_len   equ $ - e820_name

%include "lib-end.inc"
                alignb 16
dma_ctl:        resd 1          ; FWCfgDmaAccess: be32 control, be32 length, be64 address
dma_len:        resd 1
dma_addr:       resd 2
dma_buf:        resd 1
fw_acc:         resd 1
fw_id:          resd 1
nb_cpus:        resd 1
ram_lo:         resd 1
nfiles:         resd 1
fsize:          resd 1
fsel:           resd 1
e820_sel:       resd 1
e820_size:      resd 1
n_e820:         resd 1
found:          resd 1
fname:          resb 64
bss_end:
