// A time-series chart drawn by uPlot (a small canvas chart library): x is seconds, one line
// per series. The chart is made once and fed new data as it comes.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLOURS = ['#2a6fdb', '#d9822b', '#1f9d55', '#b8325e', '#7a4fd1', '#5b6473'];

export interface ChartProps {
  title: string;
  /** Unit shown on the y axis. */
  unit: string;
  series: string[];
  /** [x values, then one array per series]. */
  data: number[][];
  height?: number;
  testId?: string;
  /** A second y axis (on the right) for the series named here, with its unit. */
  right?: { series: string[]; unit: string };
}

export function Chart({ title, unit, series, data, height = 170, testId, right }: ChartProps) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = series.join('|');

  useEffect(() => {
    const box = el.current!;
    const opts: uPlot.Options = {
      title,
      width: Math.max(260, box.clientWidth || 420),
      height,
      scales: { x: { time: false } },
      axes: [{ label: 's', size: 36 }, { label: unit, size: 56 }, ...(right ? [{ label: right.unit, scale: 'right', side: 1, size: 56, grid: { show: false } }] : [])],
      series: [{ label: 's' }, ...series.map((s, i) => ({
        label: s, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: false }, scale: right?.series.includes(s) ? 'right' : 'y',
      }))],
      legend: { live: false },
    };
    const u = new uPlot(opts, data as uPlot.AlignedData, box);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(260, box.clientWidth), height }));
    ro.observe(box);
    return () => { ro.disconnect(); u.destroy(); plot.current = null; };
    // The chart is rebuilt only when its series change; data goes through setData below.
  }, [key, title, unit, height, right?.unit]);

  useEffect(() => { plot.current?.setData(data as uPlot.AlignedData); }, [data]);

  return <div className="chart" ref={el} data-testid={testId} aria-label={`${title} (${unit})`} role="img" />;
}
