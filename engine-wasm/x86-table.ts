// The x86 opcode table: one declarative entry per encoding (one-byte map 0x00-0xFF and the
// 0F map as 0x100-0x1FF). tools/gen-dispatch.ts turns it into the core's dispatch switch
// (engine-wasm/assembly/dispatch.gen.ts); tests read it for flag masks and coverage.
// Semantics live in hand-written handlers named in Intel operand notation.

export interface OpEntry {
  /** 0x00-0xFF: one-byte opcode; 0x100-0x1FF: 0F-prefixed opcode. */
  op: number;
  /** Mnemonic and operands in Intel notation (for humans and test generators). */
  name: string;
  /**
   * AssemblyScript statement(s) implementing it; `{v}` becomes 16 or 32 for operand-size
   * forms. A pair gives the 16- and 32-bit operand-size implementations separately.
   */
  impl: string | [string, string];
  /** Has a ModRM byte (decoded before `impl` runs). */
  modrm?: boolean;
  /** LOCK is legal with a memory destination: true for all ModRM.reg values, or a list of them. */
  lock?: boolean | number[];
  /** Arithmetic flags the instruction leaves undefined (bit mask of EFLAGS). */
  undefFlags?: number;
  /**
   * Fast form of the unprefixed 32-bit instruction (assembly/fast.ts): an expression for the
   * EIP after it, given `ip` (its EIP) and `p` (host address of its first byte, all of whose
   * bytes are in the fetch window); or statements ending in `return <that EIP>;` (a one-byte
   * instruction whose handler neither fetches nor reads EIP). Without one, the instruction
   * runs through slowStep().
   */
  fast?: string;
}

const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
const ALU = ['ADD', 'OR', 'ADC', 'SBB', 'AND', 'SUB', 'XOR', 'CMP'];
const CC = ['O', 'NO', 'B', 'NB', 'Z', 'NZ', 'BE', 'A', 'S', 'NS', 'P', 'NP', 'L', 'GE', 'LE', 'G'];
const SEG = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];
const R16 = ['AX', 'CX', 'DX', 'BX', 'SP', 'BP', 'SI', 'DI'];
const R8 = ['AL', 'CL', 'DL', 'BL', 'AH', 'CH', 'DH', 'BH'];

function build(): OpEntry[] {
  const t: OpEntry[] = [];
  const add = (e: OpEntry) => t.push(e);

  // 00-3F: the eight ALU operations, six forms each, and the odd ones out.
  for (let i = 0; i < 8; i++) {
    const b = i * 8, n = ALU[i];
    const lock = n !== 'CMP';
    add({ op: b + 0, name: `${n} Eb,Gb`, impl: `aluEbGb(${i});`, modrm: true, lock, fast: `fAluEG<u8>(${i}, true, ip, p)` });
    add({ op: b + 1, name: `${n} Ev,Gv`, impl: `aluEvGv{v}(${i});`, modrm: true, lock, fast: `fAluEG<u32>(${i}, true, ip, p)` });
    add({ op: b + 2, name: `${n} Gb,Eb`, impl: `aluGbEb(${i});`, modrm: true, fast: `fAluEG<u8>(${i}, false, ip, p)` });
    add({ op: b + 3, name: `${n} Gv,Ev`, impl: `aluGvEv{v}(${i});`, modrm: true, fast: `fAluEG<u32>(${i}, false, ip, p)` });
    add({ op: b + 4, name: `${n} AL,Ib`, impl: `aluALIb(${i});`, fast: `fAluAcc<u8>(${i}, ip, p)` });
    add({ op: b + 5, name: `${n} eAX,Iv`, impl: opv(`aluAXIw(${i});`, `aluEAXId(${i});`), fast: `fAluAcc<u32>(${i}, ip, p)` });
  }
  add({ op: 0x06, name: 'PUSH ES', impl: 'PUSH_Sw{v}(0);' });
  add({ op: 0x07, name: 'POP ES', impl: 'POP_Sw{v}(0);' });
  add({ op: 0x0e, name: 'PUSH CS', impl: 'PUSH_Sw{v}(1);' });
  add({ op: 0x0f, name: '0F escape', impl: 'escape0F();' });
  add({ op: 0x16, name: 'PUSH SS', impl: 'PUSH_Sw{v}(2);' });
  add({ op: 0x17, name: 'POP SS', impl: 'POP_Sw{v}(2);' });
  add({ op: 0x1e, name: 'PUSH DS', impl: 'PUSH_Sw{v}(3);' });
  add({ op: 0x1f, name: 'POP DS', impl: 'POP_Sw{v}(3);' });
  add({ op: 0x26, name: 'ES:', impl: 'prefixSeg(0);' });
  add({ op: 0x27, name: 'DAA', impl: 'DAA();', undefFlags: OF });
  add({ op: 0x2e, name: 'CS:', impl: 'prefixSeg(1);' });
  add({ op: 0x2f, name: 'DAS', impl: 'DAS();', undefFlags: OF });
  add({ op: 0x36, name: 'SS:', impl: 'prefixSeg(2);' });
  add({ op: 0x37, name: 'AAA', impl: 'AAA();', undefFlags: OF | SF | ZF | PF });
  add({ op: 0x3e, name: 'DS:', impl: 'prefixSeg(3);' });
  add({ op: 0x3f, name: 'AAS', impl: 'AAS();', undefFlags: OF | SF | ZF | PF });
  for (let r = 0; r < 8; r++) {
    add({ op: 0x40 + r, name: `INC e${R16[r]}`, impl: `INC_Zv{v}(${r});`, fast: `fIncDec32(${r}, false, ip)` });
    add({ op: 0x48 + r, name: `DEC e${R16[r]}`, impl: `DEC_Zv{v}(${r});`, fast: `fIncDec32(${r}, true, ip)` });
    add({ op: 0x50 + r, name: `PUSH e${R16[r]}`, impl: `PUSH_Zv{v}(${r});`, fast: `fPushR32(${r}, ip)` });
    add({ op: 0x58 + r, name: `POP e${R16[r]}`, impl: `POP_Zv{v}(${r});`, fast: `fPopR32(${r}, ip)` });
  }
  add({ op: 0x60, name: 'PUSHA', impl: 'PUSHA{v}();' });
  add({ op: 0x61, name: 'POPA', impl: 'POPA{v}();' });
  add({ op: 0x62, name: 'BOUND Gv,Ma', impl: 'BOUND{v}();', modrm: true });
  add({ op: 0x63, name: 'ARPL Ew,Gw', impl: 'ARPL();', modrm: true });
  add({ op: 0x64, name: 'FS:', impl: 'prefixSeg(4);' });
  add({ op: 0x65, name: 'GS:', impl: 'prefixSeg(5);' });
  add({ op: 0x66, name: 'operand size', impl: 'prefixOpsize();' });
  add({ op: 0x67, name: 'address size', impl: 'prefixAdsize();' });
  add({ op: 0x68, name: 'PUSH Iv', impl: 'PUSH_Iv{v}();', fast: 'fPushI32(false, ip, p)' });
  add({ op: 0x69, name: 'IMUL Gv,Ev,Iv', impl: 'IMUL_GvEvIv{v}();', modrm: true, undefFlags: SF | ZF | AF | PF, fast: 'fImul3(false, ip, p)' });
  add({ op: 0x6a, name: 'PUSH Ib', impl: 'PUSH_Ib{v}();', fast: 'fPushI32(true, ip, p)' });
  add({ op: 0x6b, name: 'IMUL Gv,Ev,Ib', impl: 'IMUL_GvEvIb{v}();', modrm: true, undefFlags: SF | ZF | AF | PF, fast: 'fImul3(true, ip, p)' });
  add({ op: 0x6c, name: 'INSB', impl: 'INS(1);' });
  add({ op: 0x6d, name: 'INSW/D', impl: opv('INS(2);', 'INS(4);') });
  add({ op: 0x6e, name: 'OUTSB', impl: 'OUTS(1);' });
  add({ op: 0x6f, name: 'OUTSW/D', impl: opv('OUTS(2);', 'OUTS(4);') });
  for (let c = 0; c < 16; c++) add({ op: 0x70 + c, name: `J${CC[c]} Jb`, impl: `Jcc_Jb(${c});`, fast: `fJcc8(${c}, ip, p)` });
  add({ op: 0x80, name: 'grp1 Eb,Ib', impl: 'grp1EbIb();', modrm: true, lock: [0, 1, 2, 3, 4, 5, 6], fast: 'fGrp1<u8>(false, ip, p)' });
  add({ op: 0x81, name: 'grp1 Ev,Iv', impl: 'grp1EvIv{v}();', modrm: true, lock: [0, 1, 2, 3, 4, 5, 6], fast: 'fGrp1<u32>(false, ip, p)' });
  add({ op: 0x82, name: 'grp1 Eb,Ib (alias)', impl: 'grp1EbIb();', modrm: true, lock: [0, 1, 2, 3, 4, 5, 6] });
  add({ op: 0x83, name: 'grp1 Ev,Ib', impl: 'grp1EvIb{v}();', modrm: true, lock: [0, 1, 2, 3, 4, 5, 6], fast: 'fGrp1<u32>(true, ip, p)' });
  add({ op: 0x84, name: 'TEST Eb,Gb', impl: 'TEST_EbGb();', modrm: true, undefFlags: AF, fast: 'fTestEG<u8>(ip, p)' });
  add({ op: 0x85, name: 'TEST Ev,Gv', impl: 'TEST_EvGv{v}();', modrm: true, undefFlags: AF, fast: 'fTestEG<u32>(ip, p)' });
  add({ op: 0x86, name: 'XCHG Eb,Gb', impl: 'lockImplicit(); XCHG_EbGb();', modrm: true, lock: true });
  add({ op: 0x87, name: 'XCHG Ev,Gv', impl: 'lockImplicit(); XCHG_EvGv{v}();', modrm: true, lock: true, fast: 'fXchg32(ip, p)' });
  add({ op: 0x88, name: 'MOV Eb,Gb', impl: 'MOV_EbGb();', modrm: true, fast: 'fMovEG<u8>(true, ip, p)' });
  add({ op: 0x89, name: 'MOV Ev,Gv', impl: 'MOV_EvGv{v}();', modrm: true, fast: 'fMovEG<u32>(true, ip, p)' });
  add({ op: 0x8a, name: 'MOV Gb,Eb', impl: 'MOV_GbEb();', modrm: true, fast: 'fMovEG<u8>(false, ip, p)' });
  add({ op: 0x8b, name: 'MOV Gv,Ev', impl: 'MOV_GvEv{v}();', modrm: true, fast: 'fMovEG<u32>(false, ip, p)' });
  add({ op: 0x8c, name: 'MOV Ew,Sw', impl: 'MOV_EwSw();', modrm: true });
  add({ op: 0x8d, name: 'LEA Gv,M', impl: 'LEA{v}();', modrm: true, fast: 'fLea32(ip, p)' });
  add({ op: 0x8e, name: 'MOV Sw,Ew', impl: 'MOV_SwEw();', modrm: true });
  add({ op: 0x8f, name: 'POP Ev', impl: 'POP_Ev{v}();', modrm: true });
  add({ op: 0x90, name: 'NOP', impl: 'NOP();', fast: 'ip + 1' });
  for (let r = 1; r < 8; r++) add({ op: 0x90 + r, name: `XCHG e${R16[r]},eAX`, impl: `XCHG_ZvAX{v}(${r});`, fast: `fXchgAcc32(${r}, ip)` });
  add({ op: 0x98, name: 'CBW/CWDE', impl: opv('CBW();', 'CWDE();'), fast: 'fCwde(ip)' });
  add({ op: 0x99, name: 'CWD/CDQ', impl: opv('CWD();', 'CDQ();'), fast: 'fCdq(ip)' });
  add({ op: 0x9a, name: 'CALLF Ap', impl: 'CALLF_Ap{v}();' });
  add({ op: 0x9b, name: 'FWAIT', impl: 'WAIT();' });
  add({ op: 0x9c, name: 'PUSHF', impl: 'PUSHF{v}();', fast: 'PUSHF32(); return ip + 1;' });
  add({ op: 0x9d, name: 'POPF', impl: 'POPF{v}();', fast: 'POPF32(); return ip + 1;' });
  add({ op: 0x9e, name: 'SAHF', impl: 'SAHF();', fast: 'SAHF(); return ip + 1;' });
  add({ op: 0x9f, name: 'LAHF', impl: 'LAHF();', fast: 'LAHF(); return ip + 1;' });
  add({ op: 0xa0, name: 'MOV AL,Ob', impl: 'MOV_ALOb();', fast: 'fMovAccMem<u8>(ip, p)' });
  add({ op: 0xa1, name: 'MOV eAX,Ov', impl: 'MOV_eAXOv{v}();', fast: 'fMovAccMem<u32>(ip, p)' });
  add({ op: 0xa2, name: 'MOV Ob,AL', impl: 'MOV_ObAL();', fast: 'fMovMemAcc<u8>(ip, p)' });
  add({ op: 0xa3, name: 'MOV Ov,eAX', impl: 'MOV_OveAX{v}();', fast: 'fMovMemAcc<u32>(ip, p)' });
  add({ op: 0xa4, name: 'MOVSB', impl: 'MOVS(1);' });
  add({ op: 0xa5, name: 'MOVSW/D', impl: opv('MOVS(2);', 'MOVS(4);') });
  add({ op: 0xa6, name: 'CMPSB', impl: 'CMPS(1);' });
  add({ op: 0xa7, name: 'CMPSW/D', impl: opv('CMPS(2);', 'CMPS(4);') });
  add({ op: 0xa8, name: 'TEST AL,Ib', impl: 'TEST_ALIb();', undefFlags: AF, fast: 'fTestAcc<u8>(ip, p)' });
  add({ op: 0xa9, name: 'TEST eAX,Iv', impl: 'TEST_eAXIv{v}();', undefFlags: AF, fast: 'fTestAcc<u32>(ip, p)' });
  add({ op: 0xaa, name: 'STOSB', impl: 'STOS(1);' });
  add({ op: 0xab, name: 'STOSW/D', impl: opv('STOS(2);', 'STOS(4);') });
  add({ op: 0xac, name: 'LODSB', impl: 'LODS(1);' });
  add({ op: 0xad, name: 'LODSW/D', impl: opv('LODS(2);', 'LODS(4);') });
  add({ op: 0xae, name: 'SCASB', impl: 'SCAS(1);' });
  add({ op: 0xaf, name: 'SCASW/D', impl: opv('SCAS(2);', 'SCAS(4);') });
  for (let r = 0; r < 8; r++) {
    add({ op: 0xb0 + r, name: `MOV ${R8[r]},Ib`, impl: `MOV_ZbIb(${r});`, fast: `fMovRI<u8>(${r}, ip, p)` });
    add({ op: 0xb8 + r, name: `MOV e${R16[r]},Iv`, impl: `MOV_ZvIv{v}(${r});`, fast: `fMovRI<u32>(${r}, ip, p)` });
  }
  add({ op: 0xc0, name: 'grp2 Eb,Ib', impl: 'grp2EbIb();', modrm: true, undefFlags: OF | AF, fast: 'fGrp2<u8>(0, ip, p)' });
  add({ op: 0xc1, name: 'grp2 Ev,Ib', impl: 'grp2EvIb{v}();', modrm: true, undefFlags: OF | AF, fast: 'fGrp2<u32>(0, ip, p)' });
  add({ op: 0xc2, name: 'RET Iw', impl: 'RET_Iw{v}();', fast: 'fRetI32(ip, p)' });
  add({ op: 0xc3, name: 'RET', impl: 'RET{v}();', fast: 'fRet32(ip)' });
  add({ op: 0xc4, name: 'LES Gv,Mp', impl: 'loadFar{v}(0);', modrm: true });
  add({ op: 0xc5, name: 'LDS Gv,Mp', impl: 'loadFar{v}(3);', modrm: true });
  add({ op: 0xc6, name: 'MOV Eb,Ib', impl: 'MOV_EbIb();', modrm: true, fast: 'fMovEI<u8>(ip, p)' });
  add({ op: 0xc7, name: 'MOV Ev,Iv', impl: 'MOV_EvIv{v}();', modrm: true, fast: 'fMovEI<u32>(ip, p)' });
  add({ op: 0xc8, name: 'ENTER Iw,Ib', impl: 'ENTER{v}();' });
  add({ op: 0xc9, name: 'LEAVE', impl: 'LEAVE{v}();', fast: 'fLeave32(ip)' });
  add({ op: 0xca, name: 'RETF Iw', impl: 'RETF_Iw{v}();' });
  add({ op: 0xcb, name: 'RETF', impl: 'RETF{v}();' });
  add({ op: 0xcc, name: 'INT3', impl: 'INT3();' });
  add({ op: 0xcd, name: 'INT Ib', impl: 'INT_Ib();' });
  add({ op: 0xce, name: 'INTO', impl: 'INTO();' });
  add({ op: 0xcf, name: 'IRET', impl: 'IRET{v}();' });
  add({ op: 0xd0, name: 'grp2 Eb,1', impl: 'grp2Eb(1);', modrm: true, undefFlags: AF, fast: 'fGrp2<u8>(1, ip, p)' });
  add({ op: 0xd1, name: 'grp2 Ev,1', impl: 'grp2Ev{v}(1);', modrm: true, undefFlags: AF, fast: 'fGrp2<u32>(1, ip, p)' });
  add({ op: 0xd2, name: 'grp2 Eb,CL', impl: 'grp2Eb(reg8(1));', modrm: true, undefFlags: OF | AF, fast: 'fGrp2<u8>(2, ip, p)' });
  add({ op: 0xd3, name: 'grp2 Ev,CL', impl: 'grp2Ev{v}(reg8(1));', modrm: true, undefFlags: OF | AF, fast: 'fGrp2<u32>(2, ip, p)' });
  add({ op: 0xd4, name: 'AAM Ib', impl: 'AAM();', undefFlags: OF | AF | CF });
  add({ op: 0xd5, name: 'AAD Ib', impl: 'AAD();', undefFlags: OF | AF | CF });
  add({ op: 0xd6, name: 'SALC', impl: 'SALC();' });
  add({ op: 0xd7, name: 'XLAT', impl: 'XLAT();' });
  for (let i = 0; i < 8; i++) add({ op: 0xd8 + i, name: `ESC ${i} (x87)`, impl: `x87(${0xd8 + i});`, modrm: true });
  add({ op: 0xe0, name: 'LOOPNE Jb', impl: 'LOOPNE();' });
  add({ op: 0xe1, name: 'LOOPE Jb', impl: 'LOOPE();' });
  add({ op: 0xe2, name: 'LOOP Jb', impl: 'LOOP();' });
  add({ op: 0xe3, name: 'JCXZ Jb', impl: 'JCXZ();' });
  add({ op: 0xe4, name: 'IN AL,Ib', impl: 'IN_ALIb();' });
  add({ op: 0xe5, name: 'IN eAX,Ib', impl: 'IN_eAXIb{v}();' });
  add({ op: 0xe6, name: 'OUT Ib,AL', impl: 'OUT_IbAL();' });
  add({ op: 0xe7, name: 'OUT Ib,eAX', impl: 'OUT_IbeAX{v}();' });
  add({ op: 0xe8, name: 'CALL Jv', impl: 'CALL_Jv{v}();', fast: 'fCall32(ip, p)' });
  add({ op: 0xe9, name: 'JMP Jv', impl: 'JMP_Jv{v}();', fast: 'fJmp32(ip, p)' });
  add({ op: 0xea, name: 'JMPF Ap', impl: 'JMPF_Ap{v}();' });
  add({ op: 0xeb, name: 'JMP Jb', impl: 'JMP_Jb();', fast: 'fJmp8(ip, p)' });
  add({ op: 0xec, name: 'IN AL,DX', impl: 'IN_ALDX();' });
  add({ op: 0xed, name: 'IN eAX,DX', impl: 'IN_eAXDX{v}();' });
  add({ op: 0xee, name: 'OUT DX,AL', impl: 'OUT_DXAL();' });
  add({ op: 0xef, name: 'OUT DX,eAX', impl: 'OUT_DXeAX{v}();' });
  add({ op: 0xf0, name: 'LOCK', impl: 'prefixLock();' });
  add({ op: 0xf1, name: 'INT1', impl: 'INT1();' });
  add({ op: 0xf2, name: 'REPNE', impl: 'prefixRep(4);' });
  add({ op: 0xf3, name: 'REP', impl: 'prefixRep(2);' });
  add({ op: 0xf4, name: 'HLT', impl: 'doHLT();' });
  add({ op: 0xf5, name: 'CMC', impl: 'CMC();', fast: 'CMC(); return ip + 1;' });
  add({ op: 0xf6, name: 'grp3 Eb', impl: 'grp3Eb();', modrm: true, lock: [2, 3], undefFlags: SF | ZF | AF | PF, fast: 'fGrp3<u8>(ip, p)' });
  add({ op: 0xf7, name: 'grp3 Ev', impl: 'grp3Ev{v}();', modrm: true, lock: [2, 3], undefFlags: SF | ZF | AF | PF, fast: 'fGrp3<u32>(ip, p)' });
  add({ op: 0xf8, name: 'CLC', impl: 'CLC();', fast: 'CLC(); return ip + 1;' });
  add({ op: 0xf9, name: 'STC', impl: 'STC();', fast: 'STC(); return ip + 1;' });
  add({ op: 0xfa, name: 'CLI', impl: 'CLI();', fast: 'CLI(); return ip + 1;' });
  add({ op: 0xfb, name: 'STI', impl: 'STI();', fast: 'STI(); return ip + 1;' });
  add({ op: 0xfc, name: 'CLD', impl: 'CLD();', fast: 'CLD(); return ip + 1;' });
  add({ op: 0xfd, name: 'STD', impl: 'STD();', fast: 'STD(); return ip + 1;' });
  add({ op: 0xfe, name: 'grp4 Eb', impl: 'grp4Eb();', modrm: true, lock: [0, 1], fast: 'fGrp4(ip, p)' });
  add({ op: 0xff, name: 'grp5 Ev', impl: 'grp5Ev{v}();', modrm: true, lock: [0, 1], fast: 'fGrp5_32(ip, p)' });

  // ---- 0F map -----------------------------------------------------------------------------
  const x = 0x100;
  add({ op: x + 0x00, name: 'grp6', impl: 'grp6();', modrm: true });
  add({ op: x + 0x01, name: 'grp7', impl: 'grp7();', modrm: true });
  add({ op: x + 0x02, name: 'LAR Gv,Ew', impl: 'LAR{v}();', modrm: true });
  add({ op: x + 0x03, name: 'LSL Gv,Ew', impl: 'LSL{v}();', modrm: true });
  add({ op: x + 0x06, name: 'CLTS', impl: 'CLTS();' });
  add({ op: x + 0x08, name: 'INVD', impl: 'INVD();' });
  add({ op: x + 0x09, name: 'WBINVD', impl: 'WBINVD();' });
  add({ op: x + 0x0b, name: 'UD2', impl: 'raiseUD();' });
  // 0F 18-1F: hint NOPs with a ModRM operand (P6 "NOP Ev").
  for (let i = 0x18; i <= 0x1f; i++) add({ op: x + i, name: 'NOP Ev (hint)', impl: '', modrm: true });
  add({ op: x + 0x20, name: 'MOV Rd,Cd', impl: 'MOV_RdCd();', modrm: true });
  add({ op: x + 0x21, name: 'MOV Rd,Dd', impl: 'MOV_RdDd();', modrm: true });
  add({ op: x + 0x22, name: 'MOV Cd,Rd', impl: 'MOV_CdRd();', modrm: true });
  add({ op: x + 0x23, name: 'MOV Dd,Rd', impl: 'MOV_DdRd();', modrm: true });
  add({ op: x + 0x30, name: 'WRMSR', impl: 'WRMSR();' });
  add({ op: x + 0x31, name: 'RDTSC', impl: 'RDTSC();' });
  add({ op: x + 0x32, name: 'RDMSR', impl: 'RDMSR();' });
  add({ op: x + 0x33, name: 'RDPMC', impl: 'RDPMC();' });
  add({ op: x + 0x34, name: 'SYSENTER', impl: 'SYSENTER();' });
  add({ op: x + 0x35, name: 'SYSEXIT', impl: 'SYSEXIT();' });
  for (let c = 0; c < 16; c++) {
    add({ op: x + 0x40 + c, name: `CMOV${CC[c]} Gv,Ev`, impl: `CMOVcc{v}(${c});`, modrm: true, fast: `fCmov32(${c}, ip, p)` });
    add({ op: x + 0x80 + c, name: `J${CC[c]} Jv`, impl: `Jcc_Jv{v}(${c});`, fast: `fJcc32(${c}, ip, p)` });
    add({ op: x + 0x90 + c, name: `SET${CC[c]} Eb`, impl: `SETcc(${c});`, modrm: true, fast: `fSetcc(${c}, ip, p)` });
  }
  add({ op: x + 0xa0, name: 'PUSH FS', impl: 'PUSH_Sw{v}(4);' });
  add({ op: x + 0xa1, name: 'POP FS', impl: 'POP_Sw{v}(4);' });
  add({ op: x + 0xa2, name: 'CPUID', impl: 'CPUID();' });
  add({ op: x + 0xa3, name: 'BT Ev,Gv', impl: 'BT_EvGv{v}();', modrm: true, undefFlags: OF | SF | ZF | AF | PF });
  add({ op: x + 0xa4, name: 'SHLD Ev,Gv,Ib', impl: 'SHLD_EvGvIb{v}();', modrm: true, undefFlags: OF | AF });
  add({ op: x + 0xa5, name: 'SHLD Ev,Gv,CL', impl: 'SHLD_EvGvCL{v}();', modrm: true, undefFlags: OF | AF });
  add({ op: x + 0xa8, name: 'PUSH GS', impl: 'PUSH_Sw{v}(5);' });
  add({ op: x + 0xa9, name: 'POP GS', impl: 'POP_Sw{v}(5);' });
  add({ op: x + 0xab, name: 'BTS Ev,Gv', impl: 'BTS_EvGv{v}();', modrm: true, lock: true, undefFlags: OF | SF | ZF | AF | PF });
  add({ op: x + 0xac, name: 'SHRD Ev,Gv,Ib', impl: 'SHRD_EvGvIb{v}();', modrm: true, undefFlags: OF | AF });
  add({ op: x + 0xad, name: 'SHRD Ev,Gv,CL', impl: 'SHRD_EvGvCL{v}();', modrm: true, undefFlags: OF | AF });
  add({ op: x + 0xae, name: 'grp15 (FXSAVE/FXRSTOR)', impl: 'grp15();', modrm: true });
  add({ op: x + 0xaf, name: 'IMUL Gv,Ev', impl: 'IMUL_GvEv{v}();', modrm: true, undefFlags: SF | ZF | AF | PF, fast: 'fImul2(ip, p)' });
  add({ op: x + 0xb0, name: 'CMPXCHG Eb,Gb', impl: 'CMPXCHG_EbGb();', modrm: true, lock: true });
  add({ op: x + 0xb1, name: 'CMPXCHG Ev,Gv', impl: 'CMPXCHG_EvGv{v}();', modrm: true, lock: true });
  add({ op: x + 0xb2, name: 'LSS Gv,Mp', impl: 'loadFar{v}(2);', modrm: true });
  add({ op: x + 0xb3, name: 'BTR Ev,Gv', impl: 'BTR_EvGv{v}();', modrm: true, lock: true, undefFlags: OF | SF | ZF | AF | PF });
  add({ op: x + 0xb4, name: 'LFS Gv,Mp', impl: 'loadFar{v}(4);', modrm: true });
  add({ op: x + 0xb5, name: 'LGS Gv,Mp', impl: 'loadFar{v}(5);', modrm: true });
  add({ op: x + 0xb6, name: 'MOVZX Gv,Eb', impl: 'MOVZX_GvEb{v}();', modrm: true, fast: 'fMovx32(false, false, ip, p)' });
  add({ op: x + 0xb7, name: 'MOVZX Gv,Ew', impl: 'MOVZX_GvEw{v}();', modrm: true, fast: 'fMovx32(true, false, ip, p)' });
  add({ op: x + 0xb9, name: 'UD1', impl: 'raiseUD();', modrm: true });
  add({ op: x + 0xba, name: 'grp8 Ev,Ib', impl: 'grp8EvIb{v}();', modrm: true, lock: [5, 6, 7], undefFlags: OF | SF | ZF | AF | PF });
  add({ op: x + 0xbb, name: 'BTC Ev,Gv', impl: 'BTC_EvGv{v}();', modrm: true, lock: true, undefFlags: OF | SF | ZF | AF | PF });
  add({ op: x + 0xbc, name: 'BSF Gv,Ev', impl: 'BSF{v}();', modrm: true, undefFlags: OF | SF | AF | PF | CF });
  add({ op: x + 0xbd, name: 'BSR Gv,Ev', impl: 'BSR{v}();', modrm: true, undefFlags: OF | SF | AF | PF | CF });
  add({ op: x + 0xbe, name: 'MOVSX Gv,Eb', impl: 'MOVSX_GvEb{v}();', modrm: true, fast: 'fMovx32(false, true, ip, p)' });
  add({ op: x + 0xbf, name: 'MOVSX Gv,Ew', impl: 'MOVSX_GvEw{v}();', modrm: true, fast: 'fMovx32(true, true, ip, p)' });
  add({ op: x + 0xc0, name: 'XADD Eb,Gb', impl: 'XADD_EbGb();', modrm: true, lock: true });
  add({ op: x + 0xc1, name: 'XADD Ev,Gv', impl: 'XADD_EvGv{v}();', modrm: true, lock: true });
  add({ op: x + 0xc7, name: 'grp9 (CMPXCHG8B Mq)', impl: 'grp9();', modrm: true, lock: [1] });
  for (let r = 0; r < 8; r++) add({ op: x + 0xc8 + r, name: `BSWAP e${R16[r]}`, impl: `BSWAP(${r});`, fast: `fBswap(${r}, ip)` });
  add({ op: x + 0xff, name: 'UD0', impl: 'raiseUD();' });
  return t;
}

/** Operand-size forms with different handler names. */
function opv(a16: string, a32: string): [string, string] {
  return [a16, a32];
}

export const X86_TABLE: readonly OpEntry[] = build();
export const SEGMENT_NAMES = SEG;
