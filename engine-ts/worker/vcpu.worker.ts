// A Web Worker for one vCPU after the first (see vcpu-thread.ts): its first message says
// which, with the core's module and the machine's memory; it then runs for good.
import { vcpuThreadMain, type VcpuThreadInit } from './vcpu-thread';

self.onmessage = (e: MessageEvent<VcpuThreadInit>) => {
  self.onmessage = null;
  vcpuThreadMain(e.data);
};
