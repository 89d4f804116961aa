// ATA register bits, command opcodes and SFF-8038i bus-master register bits, with the
// names the ATA/ATAPI and ACS standards (and Intel's PIIX3 datasheet) use.

// ---- command block registers (offset from 0x1F0 / 0x170) -------------------------------
export const ATA_REG_DATA = 0;
export const ATA_REG_ERROR = 1; // read: Error, write: Features
export const ATA_REG_NSECT = 2;
export const ATA_REG_LBAL = 3;
export const ATA_REG_LBAM = 4;
export const ATA_REG_LBAH = 5;
export const ATA_REG_DEVICE = 6;
export const ATA_REG_STATUS = 7; // read: Status, write: Command

// ---- Status register -----------------------------------------------------------------------
export const ATA_BSY = 0x80;
export const ATA_DRDY = 0x40;
export const ATA_DF = 0x20;
/** DSC (seek complete), obsolete since ATA-4 but set by every disk Linux ever met. */
export const ATA_DSC = 0x10;
export const ATA_DRQ = 0x08;
export const ATA_ERR = 0x01;

// ---- Error register ------------------------------------------------------------------------
export const ATA_ICRC = 0x80;
export const ATA_UNC = 0x40;
export const ATA_IDNF = 0x10;
export const ATA_ABRT = 0x04;
/** Diagnostic code after reset / EXECUTE DEVICE DIAGNOSTIC: device 0 passed, device 1 passed or absent. */
export const ATA_DIAG_PASS = 0x01;

// ---- Device register -----------------------------------------------------------------------
export const ATA_DEV1 = 0x10;
export const ATA_LBA = 0x40;
/** Bits 7 and 5: obsolete, always read as 1 on PATA devices. */
export const ATA_DEVICE_OBS = 0xa0;

// ---- Device Control register (0x3F6 / 0x376) ---------------------------------------------------
export const ATA_NIEN = 0x02;
export const ATA_SRST = 0x04;
export const ATA_HOB = 0x80;

// ---- commands (ACS-2 names) --------------------------------------------------------------------
export const ATA_CMD_NOP = 0x00;
export const ATA_CMD_DEVICE_RESET = 0x08;
export const ATA_CMD_READ_SECTORS = 0x20;
export const ATA_CMD_READ_SECTORS_NORETRY = 0x21;
export const ATA_CMD_READ_SECTORS_EXT = 0x24;
export const ATA_CMD_READ_DMA_EXT = 0x25;
export const ATA_CMD_READ_NATIVE_MAX_EXT = 0x27;
export const ATA_CMD_READ_MULTIPLE_EXT = 0x29;
export const ATA_CMD_WRITE_SECTORS = 0x30;
export const ATA_CMD_WRITE_SECTORS_NORETRY = 0x31;
export const ATA_CMD_WRITE_SECTORS_EXT = 0x34;
export const ATA_CMD_WRITE_DMA_EXT = 0x35;
export const ATA_CMD_WRITE_MULTIPLE_EXT = 0x39;
export const ATA_CMD_READ_VERIFY = 0x40;
export const ATA_CMD_READ_VERIFY_NORETRY = 0x41;
export const ATA_CMD_READ_VERIFY_EXT = 0x42;
export const ATA_CMD_EXECUTE_DEVICE_DIAGNOSTIC = 0x90;
export const ATA_CMD_INITIALIZE_DEVICE_PARAMETERS = 0x91;
export const ATA_CMD_PACKET = 0xa0;
export const ATA_CMD_IDENTIFY_PACKET_DEVICE = 0xa1;
export const ATA_CMD_READ_MULTIPLE = 0xc4;
export const ATA_CMD_WRITE_MULTIPLE = 0xc5;
export const ATA_CMD_SET_MULTIPLE_MODE = 0xc6;
export const ATA_CMD_READ_DMA = 0xc8;
export const ATA_CMD_READ_DMA_NORETRY = 0xc9;
export const ATA_CMD_WRITE_DMA = 0xca;
export const ATA_CMD_WRITE_DMA_NORETRY = 0xcb;
export const ATA_CMD_STANDBY_IMMEDIATE = 0xe0;
export const ATA_CMD_IDLE_IMMEDIATE = 0xe1;
export const ATA_CMD_STANDBY = 0xe2;
export const ATA_CMD_IDLE = 0xe3;
export const ATA_CMD_CHECK_POWER_MODE = 0xe5;
export const ATA_CMD_SLEEP = 0xe6;
export const ATA_CMD_FLUSH_CACHE = 0xe7;
export const ATA_CMD_FLUSH_CACHE_EXT = 0xea;
export const ATA_CMD_IDENTIFY_DEVICE = 0xec;
export const ATA_CMD_SET_FEATURES = 0xef;
export const ATA_CMD_READ_NATIVE_MAX = 0xf8;

// SET FEATURES subcommands (Features register)
export const SETFEATURES_WC_ON = 0x02;
export const SETFEATURES_XFER = 0x03;
export const SETFEATURES_RA_OFF = 0x55;
export const SETFEATURES_DEFAULTS_OFF = 0x66;
export const SETFEATURES_WC_OFF = 0x82;
export const SETFEATURES_RA_ON = 0xaa;
export const SETFEATURES_DEFAULTS_ON = 0xcc;

// Transfer mode values for SET FEATURES 03h (Sector Count register)
export const XFER_PIO_DEFAULT = 0x00;
export const XFER_PIO_DEFAULT_NO_IORDY = 0x01;
export const XFER_PIO_0 = 0x08;
export const XFER_PIO_4 = 0x0c;
export const XFER_MW_DMA_0 = 0x20;
export const XFER_MW_DMA_2 = 0x22;
export const XFER_UDMA_0 = 0x40;
export const XFER_UDMA_5 = 0x45;

/** CHECK POWER MODE result in Sector Count: active or idle. */
export const ATA_POWER_ACTIVE_IDLE = 0xff;

// ---- SFF-8038i / PIIX3 bus-master IDE registers (offset within a channel's 8 bytes) -------------
export const BM_REG_COMMAND = 0; // BMICx
export const BM_REG_STATUS = 2; // BMISx
export const BM_REG_PRDT = 4; // BMIDTPx, 4 bytes

/** BMICx bit 0: start/stop bus master (SSBM). */
export const BM_CMD_START = 0x01;
/** BMICx bit 3: read/write control (RWCON); 1 = the bus master writes memory (an ATA read). */
export const BM_CMD_WRITE_MEMORY = 0x08;

/** BMISx bit 0: bus master IDE active (read only). */
export const BM_STATUS_ACTIVE = 0x01;
/** BMISx bit 1: error (write 1 to clear). */
export const BM_STATUS_ERROR = 0x02;
/** BMISx bit 2: IDE interrupt status (write 1 to clear). */
export const BM_STATUS_INTR = 0x04;
/** BMISx bits 5 and 6: drive 0/1 DMA capable (read/write scratch bits set by firmware). */
export const BM_STATUS_DRIVE_DMA = 0x60;
/** BMISx bit 7: simplex only; PIIX3 channels work independently, so always 0. */
export const BM_STATUS_SIMPLEX = 0x80;

/** PRD entry: dword 0 = physical base (bit 0 zero), dword 1 = byte count (bit 0 zero, 0 = 64 KiB) | EOT. */
export const PRD_ENTRY_SIZE = 8;
export const PRD_EOT = 0x80000000;
/** A PRD table lies within one 64 KiB region (PIIX3 datasheet, 2.7.6): at most 8192 entries. */
export const PRD_TABLE_LIMIT = 0x10000;
