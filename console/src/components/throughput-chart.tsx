import type { ThroughputMinute } from '../types.ts';

const outcomes = ['succeeded', 'failed', 'cancelled', 'expired'] as const;
const width = 720;
const height = 160;
const axis = 24;

const clock = (iso: string) =>
  new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });

/**
 * Jobs finished per minute, one stacked bar a minute, coloured by outcome: plain SVG (colours by
 * class, since the CSP allows no inline style), each bar titled with its counts as text.
 */
export function ThroughputChart(props: { readonly minutes: readonly ThroughputMinute[] }) {
  const { minutes } = props;
  const total = (minute: ThroughputMinute) => outcomes.reduce((sum, outcome) => sum + minute[outcome], 0);
  const peak = Math.max(1, ...minutes.map(total));
  const slot = minutes.length === 0 ? 0 : width / minutes.length;
  const bar = Math.max(1, slot - 2);
  const plot = height - axis;
  const finished = minutes.reduce((sum, minute) => sum + total(minute), 0);
  const first = minutes[0];
  const last = minutes.at(-1);
  return (
    <figure class="chart" data-testid="throughput">
      <svg
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`${finished} jobs finished over the last ${minutes.length} minutes; at most ${peak} in one minute`}
      >
        <line class="chart-axis" x1={0} y1={plot} x2={width} y2={plot} />
        {minutes.map((minute, index) => {
          let top = plot;
          return (
            <g key={minute.minute} data-minute={minute.minute} data-total={total(minute)}>
              <title>
                {clock(minute.minute)}: {outcomes.map((outcome) => `${minute[outcome]} ${outcome}`).join(', ')}
              </title>
              {outcomes.map((outcome) => {
                const count = minute[outcome];
                if (count === 0) return null;
                const size = (count / peak) * (plot - 4);
                top -= size;
                return (
                  <rect
                    key={outcome}
                    class={`bar bar-${outcome}`}
                    data-outcome={outcome}
                    data-count={count}
                    x={index * slot + 1}
                    y={top}
                    width={bar}
                    height={size}
                  />
                );
              })}
            </g>
          );
        })}
        {first && (
          <text class="chart-label" x={0} y={height - 6}>
            {clock(first.minute)}
          </text>
        )}
        {last && (
          <text class="chart-label" x={width} y={height - 6} text-anchor="end">
            {clock(last.minute)}
          </text>
        )}
        <text class="chart-label" x={4} y={12}>
          {peak}/min
        </text>
      </svg>
      <figcaption class="legend">
        {outcomes.map((outcome) => (
          <span key={outcome} class={`legend-${outcome}`}>
            ■ {outcome} {minutes.reduce((sum, minute) => sum + minute[outcome], 0)}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
