// The engine API for Node hosts (CLI, tests, benchmarks): the same machine as the page,
// running in-process.
export * from '../config/machine';
export * from '../config/inspect';
export { describeHypercall, hypercallName } from '../pv/names';
// Snapshots: .pvsnap files (engine-ts/snapshot/format.ts).
export { resumeNodeMachine as resumeMachine, imagesFromFiles, prepareBaseImages } from '../worker/node-host';
export { SnapshotError, readHeader as readSnapshotHeader, type SnapshotHeader, type ImageRef } from '../snapshot/format';
/** Kernel parameter for Linux guests with a PV disk: blkfront may then send 1 MiB requests. */
export { BLKFRONT_CMDLINE } from '../pv/backends/blkback';
export { createNodeMachine as createMachine } from '../worker/node-host';
import { nodeLinkEndpoint } from '../worker/node-host';
import { LabNetworkCore } from '../network/lab-network';

/** A virtual Ethernet switch that in-process machines plug into. */
export class LabNetwork extends LabNetworkCore {
  constructor() { super(nodeLinkEndpoint); }
}

// Guest images: what the command line checks before it boots one.
export { ImageError } from '../board/loaders/flat';
export { parseBzImage } from '../board/loaders/linux';
export { isMultiboot } from '../board/loaders/multiboot';
export { BiosError } from '../board/board';

// VHD files on the host (`pvlab disk`): images over Node files, conversion and checks.
export { BlockStoreError } from '../disk/block-store';
export { FileStore } from '../disk/file-store';
export { MAX_PARENT_DEPTH, fileParentResolver, openVhd } from '../disk/vhd-files';
export { VhdDisk, type OpenParent, type ParentRef, type ParentLocatorSpec } from '../disk/vhd';
export { DEFAULT_BLOCK_SIZE, VhdError, sizeForCreate, uuidV4 } from '../disk/vhd-format';
export { loadLayout } from '../disk/vhd-layout';
export { checkVhd, copyNonZero, describeLayout, rawDevice, rawToVhd, vhdToRaw, vhdToVhd, type VhdInfo } from '../disk/vhd-tools';
