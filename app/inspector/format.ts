// How the inspector words what it shows: Xen's names (xenstore-ls, xentop, io/ring.h).
import { describeHypercall, XENBUS_STATES, type TimelineEvent } from '../../engine-ts/api';

/** A xenbus `state` node (frontend device/ or backend/ directory). */
export const STATE_NODE = /^\/local\/domain\/\d+\/(device\/[^/]+\/\d+|backend\/[^/]+\/\d+\/\d+)\/state$/;

export function xenbusState(v: string | number): string {
  const n = typeof v === 'number' ? v : Number(v);
  const name = Number.isInteger(n) ? XENBUS_STATES[n] : undefined;
  return name ? `${n} (${name})` : String(v);
}

/** Guest time as seconds with microseconds: "12.345678 s". */
export function guestTime(ns: number): string {
  return `${(ns / 1e9).toFixed(6)} s`;
}

export function rate(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return x >= 10_000 ? `${(x / 1000).toFixed(0)}k` : x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x >= 10 ? x.toFixed(0) : x.toFixed(1);
}

export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

function domName(d: number): string {
  return d === 0 ? 'dom0' : `d${d}`;
}

/** One timeline event in words. */
export function describeEvent(e: TimelineEvent): string {
  switch (e.kind) {
    case 'hypercall':
      return `${domName(e.dom)} ${describeHypercall(e.a, e.b)} → ${e.c}`;
    case 'evtchn-send':
      return `${domName(e.dom)} notifies port ${e.a} → ${domName(e.b)} port ${e.c}`;
    case 'virq':
      return `Xen fires VIRQ ${e.a}${e.a === 0 ? ' (timer)' : ''} on ${domName(e.dom)} port ${e.b}`;
    case 'upcall':
      return `upcall into ${domName(e.dom)} vCPU ${e.a}${e.b >= 0 ? ` (vector ${hex(e.b)})` : ''}`;
    case 'grant-map':
    case 'grant-unmap':
      return `dom0 ${e.kind === 'grant-map' ? 'maps' : 'unmaps'} ${domName(e.dom)} grant ${e.a} (frame ${hex(e.b)}, ${e.c & 1 ? 'rw' : 'ro'}${e.c & 2 ? ', ring' : ', copy'})`;
    case 'xs-write':
      return `${domName(e.dom)} writes ${e.text} = ${STATE_NODE.test(e.text ?? '') ? xenbusState(e.text2 ?? '') : JSON.stringify(e.text2)}`;
    case 'xs-rm':
      return `${domName(e.dom)} removes ${e.text}`;
    case 'watch':
      return `watch fires for ${domName(e.dom)}: ${e.text} (token ${e.text2})`;
  }
}
