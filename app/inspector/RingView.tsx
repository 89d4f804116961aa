// A shared ring drawn as a ring: one arc per slot, coloured by what the slot holds now —
// requests the frontend produced that the backend has not taken yet, requests in flight
// (taken, not answered), or free — with the producer and consumer indexes marked.
import type { RingInfo } from '../../engine-ts/api';

const R = 54;
const C = 64;

function arc(i: number, n: number, r: number): string {
  const a0 = (i / n) * 2 * Math.PI - Math.PI / 2;
  const a1 = ((i + 1) / n) * 2 * Math.PI - Math.PI / 2;
  const p = (a: number) => `${(C + r * Math.cos(a)).toFixed(2)} ${(C + r * Math.sin(a)).toFixed(2)}`;
  return `M ${p(a0)} A ${r} ${r} 0 ${a1 - a0 > Math.PI ? 1 : 0} 1 ${p(a1)}`;
}

function marker(idx: number, n: number, label: string, r: number) {
  const a = ((idx % n) + 0.5) / n * 2 * Math.PI - Math.PI / 2;
  return (
    <text x={C + r * Math.cos(a)} y={C + r * Math.sin(a)} className="ring-marker" textAnchor="middle" dominantBaseline="middle">
      {label}
    </text>
  );
}

export function RingView({ ring }: { ring: RingInfo }) {
  const slots = ring.unit === 'slots';
  const n = slots ? ring.size : 64; // a byte ring is drawn in 64 segments
  const scale = slots ? 1 : ring.size / n;
  const state = (i: number): 'pending' | 'inflight' | 'free' => {
    // Slot i holds ring index k ≡ i (mod n) for the unanswered window [rsp_prod, req_prod).
    const start = slots ? ring.rsp_prod : ring.req_cons;
    const end = ring.req_prod;
    const k = i * scale;
    const off = (((k - (start % ring.size)) % ring.size) + ring.size) % ring.size;
    const used = (end - start) >>> 0;
    if (off >= used) return 'free';
    if (!slots) return 'pending';
    const taken = (ring.req_cons - start) >>> 0;
    return off < taken ? 'inflight' : 'pending';
  };
  const title = slots
    ? `${ring.name}: ${ring.size} slots, req_prod ${ring.req_prod}, req_cons ${ring.req_cons}, rsp_prod ${ring.rsp_prod}, ${ring.free} free`
    : `${ring.name}: ${ring.size} bytes, prod ${ring.req_prod}, cons ${ring.req_cons}`;
  return (
    <figure className="ring" data-ring={ring.name}>
      <svg viewBox="0 0 128 128" width="128" height="128" role="img" aria-label={title}>
        {Array.from({ length: n }, (_, i) => (
          <path key={i} d={arc(i, n, R)} className={`ring-slot ${state(i)}`} />
        ))}
        {slots && marker(ring.req_prod, ring.size, 'P', R - 14)}
        {slots && marker(ring.rsp_prod, ring.size, 'R', R - 24)}
        <text x={C} y={C} textAnchor="middle" dominantBaseline="middle" className="ring-center">
          {slots ? `${ring.free}/${ring.size}` : `${(ring.req_prod - ring.req_cons) >>> 0} B`}
        </text>
      </svg>
      <figcaption>
        <strong>{ring.name}</strong>
        <br />
        {slots ? (
          <>
            req_prod {ring.req_prod} · req_cons {ring.req_cons} · rsp_prod {ring.rsp_prod}
            <br />
            req_event {ring.req_event} · rsp_event {ring.rsp_event} · {ring.free} free
          </>
        ) : (
          <>prod {ring.req_prod} · cons {ring.req_cons} · {ring.size} B</>
        )}
      </figcaption>
    </figure>
  );
}
