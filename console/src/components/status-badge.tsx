export function StatusBadge(props: { readonly status: string }) {
  return (
    <span class={`status status-${props.status}`} data-status={props.status}>
      {props.status}
    </span>
  );
}

/** A job's labels as `key=value` chips, each rendered as text. */
export function LabelList(props: { readonly labels: Readonly<Record<string, string>> | undefined }) {
  const entries = Object.entries(props.labels ?? {});
  if (entries.length === 0) return <span class="muted">—</span>;
  return (
    <span class="labels">
      {entries.map(([key, value]) => (
        <span class="label" key={key}>
          {key}={value}
        </span>
      ))}
    </span>
  );
}
