// The live inspector of one machine: xenstore, event channels, grants, rings, rates and the
// timeline of PV events, drawn from the machine's sampler (at most ten samples a second).
import { useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { TRACE_KINDS, type InspectorSample, type TraceKindName } from '../../engine-ts/api';
import type { MachineSampler } from '../lab/sampler';
import { describeEvent, guestTime, hex, rate, STATE_NODE, xenbusState } from './format';
import { RingView } from './RingView';

const TABS = ['xenstore', 'event channels', 'grants', 'rings', 'rates', 'timeline'] as const;
type Tab = (typeof TABS)[number];
/** How long a changed xenstore node stays highlighted (ms). */
const HIGHLIGHT_MS = 2500;

export function Inspector({ index, sampler }: { index: number; sampler: MachineSampler }) {
  const [tab, setTab] = useState<Tab>('xenstore');
  const tabRefs = useRef<Array<HTMLButtonElement | null>>([]);
  const s = sampler.sample;
  const onKey = (e: KeyboardEvent) => {
    const i = TABS.indexOf(tab);
    const j = e.key === 'ArrowRight' ? (i + 1) % TABS.length : e.key === 'ArrowLeft' ? (i + TABS.length - 1) % TABS.length : -1;
    if (j < 0) return;
    e.preventDefault();
    setTab(TABS[j]);
    tabRefs.current[j]?.focus();
  };
  return (
    <div className="inspector" data-testid={`inspector-${index}`}>
      <div role="tablist" aria-label={`Inspector of machine ${index + 1}`} className="tabs" onKeyDown={onKey}>
        {TABS.map((t, i) => (
          <button
            key={t} role="tab" aria-selected={tab === t} tabIndex={tab === t ? 0 : -1}
            ref={(el) => { tabRefs.current[i] = el; }} onClick={() => setTab(t)}
          >
            {t}
          </button>
        ))}
      </div>
      <div role="tabpanel" className="tab-body" aria-label={tab}>
        {!s ? <p className="muted">waiting for the first sample…</p>
          : tab === 'rates' ? <Rates sampler={sampler} />
          : tab === 'timeline' ? <Timeline sampler={sampler} />
          : !s.xen ? <p className="muted">This machine has no PV devices (boot it with “PV (Xen) devices” to see xenstore, event channels, grants and rings). Its emulated devices’ exits are under “rates”.</p>
          : tab === 'xenstore' ? <XenstoreTree sample={s} />
          : tab === 'event channels' ? <Ports sampler={sampler} />
          : tab === 'grants' ? <Grants sampler={sampler} />
          : <Rings sample={s} />}
      </div>
    </div>
  );
}

function XenstoreTree({ sample }: { sample: InspectorSample }) {
  const [filter, setFilter] = useState('');
  const changed = useRef(new Map<string, { gen: number; at: number }>());
  const now = performance.now();
  const nodes = sample.xen!.xenstore.nodes;
  // A node is highlighted for a while after its generation moves (or it appears), not on the first sample.
  const first = changed.current.size === 0;
  for (const n of nodes) {
    const seen = changed.current.get(n.path);
    if (!seen) changed.current.set(n.path, { gen: n.gen, at: first ? 0 : now });
    else if (seen.gen !== n.gen) changed.current.set(n.path, { gen: n.gen, at: now });
  }
  const shown = nodes.filter((n) => !filter || n.path.includes(filter) || n.value.includes(filter));
  return (
    <>
      <label className="filter">Filter <input value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="path or value" aria-label="Filter xenstore" /></label>
      <table className="grid xs-tree">
        <thead><tr><th>path</th><th>value</th><th>permissions</th></tr></thead>
        <tbody>
          {shown.map((n) => {
            const c = changed.current.get(n.path);
            const hot = c !== undefined && c.at > 0 && now - c.at < HIGHLIGHT_MS;
            const depth = n.path === '/' ? 0 : n.path.split('/').length - 1;
            return (
              <tr key={n.path} className={hot ? 'changed' : undefined} data-path={n.path}>
                <td style={{ paddingLeft: `${0.3 + depth * 0.8}em` }} title={n.path}>{n.path === '/' ? '/' : n.path.slice(n.path.lastIndexOf('/') + 1)}</td>
                <td>{STATE_NODE.test(n.path) ? <span className="state">{xenbusState(n.value)}</span> : n.value}</td>
                <td className="muted">{n.perms.join(' ')}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h4>Watches</h4>
      <table className="grid">
        <thead><tr><th>connection</th><th>path</th><th>token</th></tr></thead>
        <tbody>
          {sample.xen!.xenstore.watches.map((w, i) => <tr key={i}><td>{w.owner}</td><td>{w.path}</td><td>{w.token}</td></tr>)}
        </tbody>
      </table>
    </>
  );
}

/** Seconds between the last two inspector samples (rates are over that interval). */
function interval(s: MachineSampler): number {
  return s.previous ? (s.sampleAt - s.previousAt) / 1000 : 0;
}

function Ports({ sampler }: { sampler: MachineSampler }) {
  const xen = sampler.sample!.xen!;
  const before = new Map(sampler.previous?.xen?.ports.map((p) => [p.port, p]) ?? []);
  const dt = interval(sampler);
  return (
    <table className="grid">
      <thead><tr><th>port</th><th>type</th><th>other end</th><th>vCPU</th><th>masked</th><th>pending</th><th>sent/s</th><th>received/s</th></tr></thead>
      <tbody>
        {xen.ports.map((p) => {
          const b = before.get(p.port);
          const other = p.type === 'interdomain' ? `d${p.remoteDom} port ${p.remotePort}${p.peer ? ` (${p.peer})` : ''}`
            : p.type === 'virq' ? `VIRQ ${p.virq} (${p.peer})` : p.type === 'unbound' ? `d${p.remoteDom} may bind` : 'IPI';
          return (
            <tr key={p.port} data-port={p.port}>
              <td>{p.port}</td><td>{p.type}</td><td>{other}</td><td>{p.vcpu}</td>
              <td>{p.masked ? 'yes' : ''}</td><td>{p.pending ? 'yes' : ''}</td>
              <td>{b && dt ? rate((p.sent - b.sent) / dt) : ''}</td><td>{b && dt ? rate((p.received - b.received) / dt) : ''}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Grants({ sampler }: { sampler: MachineSampler }) {
  const g = sampler.sample!.xen!.grants;
  const b = sampler.previous?.xen?.grants;
  const dt = interval(sampler);
  return (
    <>
      <p>
        {g.frames} grant-table frame{g.frames === 1 ? '' : 's'} placed · {g.entries.length} active entr{g.entries.length === 1 ? 'y' : 'ies'} ·
        grants mapped/s <strong data-testid="grant-rate">{b && dt ? rate((g.maps - b.maps) / dt) : '–'}</strong> (total {g.maps})
      </p>
      <table className="grid">
        <thead><tr><th>ref</th><th>frame</th><th>granted to</th><th>access</th><th>in use</th><th>mapped by</th></tr></thead>
        <tbody>
          {g.entries.map((e) => (
            <tr key={e.ref}>
              <td>{e.ref}</td><td>{hex(e.frame)}</td><td>d{e.domid}</td><td>{e.readOnly ? 'read-only' : 'writable'}</td>
              <td>{[e.reading && 'reading', e.writing && 'writing'].filter(Boolean).join(', ')}</td><td>{e.mappedBy ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Rings({ sample }: { sample: InspectorSample }) {
  const rings = sample.xen!.rings;
  return (
    <>
      <div className="rings">{rings.map((r) => <RingView key={r.name} ring={r} />)}</div>
      <p className="legend"><span className="ring-slot-key pending" /> produced, not taken · <span className="ring-slot-key inflight" /> in flight · <span className="ring-slot-key free" /> free · P req_prod · R rsp_prod</p>
      {rings.filter((r) => r.inFlight.length > 0).map((r) => (
        <table className="grid" key={r.name}>
          <caption>{r.name}: requests in flight</caption>
          <thead><tr><th>index</th><th>operation</th><th>sector</th><th>sectors</th></tr></thead>
          <tbody>{r.inFlight.map((q) => <tr key={q.index}><td>{q.index}</td><td>{q.op}</td><td>{q.sector}</td><td>{q.sectors}</td></tr>)}</tbody>
        </table>
      ))}
    </>
  );
}

function Rates({ sampler }: { sampler: MachineSampler }) {
  const s = sampler.sample!;
  const p = sampler.previous;
  const dt = interval(sampler);
  const prevCalls = new Map(p?.xen?.hypercalls.map((h) => [h.op, h.count]) ?? []);
  const prevDev = new Map(p?.devices.map((d) => [d.name, d]) ?? []);
  return (
    <div className="rates">
      <table className="grid">
        <caption>Hypercalls by operation</caption>
        <thead><tr><th>operation</th><th>per second</th><th>total</th></tr></thead>
        <tbody>
          {(s.xen?.hypercalls ?? []).map((h) => (
            <tr key={h.op}><td>{h.name}</td><td>{dt && prevCalls.has(h.op) ? rate((h.count - prevCalls.get(h.op)!) / dt) : '–'}</td><td>{h.count}</td></tr>
          ))}
          {!s.xen && <tr><td colSpan={3} className="muted">no hypercalls: this machine has no PV devices</td></tr>}
        </tbody>
      </table>
      <table className="grid">
        <caption>Emulated-device exits by device</caption>
        <thead><tr><th>device</th><th>port I/O /s</th><th>MMIO /s</th><th>total</th></tr></thead>
        <tbody>
          {s.devices.map((d) => {
            const b = prevDev.get(d.name);
            return (
              <tr key={d.name}>
                <td>{d.name}</td><td>{b && dt ? rate((d.io - b.io) / dt) : '–'}</td><td>{b && dt ? rate((d.mmio - b.mmio) / dt) : '–'}</td><td>{d.io + d.mmio}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function Timeline({ sampler }: { sampler: MachineSampler }) {
  const [hidden, setHidden] = useState<Set<TraceKindName>>(() => new Set(['hypercall', 'virq', 'upcall']));
  const [text, setText] = useState('');
  const [, setPaused] = useState(sampler.paused);
  const shown = useMemo(() => {
    const out = [];
    for (let i = sampler.events.length - 1; i >= 0 && out.length < 400; i--) {
      const e = sampler.events[i];
      if (hidden.has(e.kind)) continue;
      const d = describeEvent(e);
      if (text && !d.includes(text)) continue;
      out.push({ e, d });
    }
    return out;
  }, [sampler.events, hidden, text]);
  const toggle = (k: TraceKindName) => setHidden((h) => { const n = new Set(h); if (n.has(k)) n.delete(k); else n.add(k); return n; });
  return (
    <>
      <div className="timeline-controls">
        <button onClick={() => { sampler.paused = !sampler.paused; setPaused(sampler.paused); }} aria-pressed={sampler.paused}>
          {sampler.paused ? 'Resume' : 'Pause'}
        </button>
        {TRACE_KINDS.map((k) => (
          <label key={k}><input type="checkbox" checked={!hidden.has(k)} onChange={() => toggle(k)} /> {k}</label>
        ))}
        <label className="filter">Find <input value={text} onChange={(e) => setText(e.target.value)} aria-label="Find in timeline" /></label>
      </div>
      {sampler.lostEvents > 0 && <p className="muted">{sampler.lostEvents} events were overwritten before the page read them.</p>}
      <ol className="timeline" data-testid="timeline">
        {shown.map(({ e, d }) => (
          <li key={e.seq} className={`ev ${e.kind}`} data-kind={e.kind}>
            <span className="t">{guestTime(e.time)}</span> <span className="k">{e.kind}</span> {d}
          </li>
        ))}
      </ol>
    </>
  );
}
