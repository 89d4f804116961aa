import { useEffect, useRef, useState } from 'react';
import type { MachineHandle, TimelineEvent } from '../../engine-ts/api';
import { samplerFor, type MachineSampler } from './sampler';

/**
 * Subscribe a component to `machine`'s sampler (null: nothing to sample). The component
 * re-renders at each sample; `onEvents` sees every timeline event once.
 */
export function useSampler(machine: MachineHandle | null, inspect: boolean, onEvents?: (events: TimelineEvent[], s: MachineSampler) => void): MachineSampler | null {
  const [, setTick] = useState(0);
  const eventsRef = useRef(onEvents);
  eventsRef.current = onEvents;
  const sampler = machine ? samplerFor(machine) : null;
  useEffect(() => {
    if (!sampler) return;
    return sampler.subscribe({
      inspect,
      onChange: (s, fresh) => {
        eventsRef.current?.(fresh, s);
        setTick((n) => n + 1);
      },
    });
  }, [sampler, inspect]);
  return sampler;
}
