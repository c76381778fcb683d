// The console's shared pieces: the html tag, loading state, tables, forms, JSON editing, copying,
// charts. Everything a page shows goes through these, so labels, focus and errors behave alike.
import { h } from 'preact';
import { useCallback, useEffect, useId, useLayoutEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);

/** Loads with `fn` when `deps` change; {data, error, loading, reload}. */
export function useLoad(fn, deps) {
  const [state, setState] = useState({ loading: true });
  const seq = useRef(0);
  const reload = useCallback(() => {
    const n = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => n === seq.current && setState({ data, loading: false }),
      (error) => n === seq.current && setState({ error, loading: false }),
    );
  }, deps);
  useEffect(reload, [reload]);
  return { ...state, reload };
}

/** Runs an action, keeping its error and busy state for the form that started it. */
export function useAction() {
  const [state, setState] = useState({ busy: false });
  const run = async (fn) => {
    setState({ busy: true });
    try {
      const result = await fn();
      setState({ busy: false, done: result });
      return result;
    } catch (error) {
      setState({ busy: false, error });
      return undefined;
    }
  };
  return { ...state, run, clear: () => setState({ busy: false }) };
}

/** An API error as the operator needs it: the message, the code and the request id for the log. */
export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<div class="error" role="alert">
    <strong>${error.code || 'Error'}</strong>: ${error.message}
    ${error.requestId ? html`<span class="muted"> (request ${error.requestId})</span>` : null}
  </div>`;
}

/** A status line for finished actions. */
export function Notice({ children }) {
  return children ? html`<p class="notice" role="status">${children}</p>` : null;
}

/** The frame of a page: a heading, actions beside it, then the content. */
export function Page({ title, actions, children }) {
  const ref = useRef(null);
  useEffect(() => {
    document.title = `${title} · zerotouch`;
  }, [title]);
  return html`<section class="page" aria-labelledby="page-title" ref=${ref}>
    <div class="page-head">
      <h1 id="page-title" tabindex="-1">${title}</h1>
      <div class="actions">${actions}</div>
    </div>
    ${children}
  </section>`;
}

/** Loading, failed or loaded: shows `render(data)` once there is data. */
export function Loaded({ load, children }) {
  if (load.error) return html`<${ErrorBox} error=${load.error} />`;
  if (load.data === undefined) return html`<p aria-busy="true">Loading…</p>`;
  return children(load.data);
}

/** Lists longer than this render only the rows in view (and a few around them) as they scroll. */
const WINDOWED_FROM = 200;

/**
 * A table of rows. `columns`: [{label, value(row) -> text or vnode}]. A caption names it for screen
 * readers; on a narrow screen each row becomes a card with the labels beside the values. A long
 * list scrolls in its own box and keeps only the rows in view in the page, so 1,000 rows show as
 * fast as 50; aria-rowcount and aria-rowindex tell assistive technology where a row is.
 */
export function Table({ caption, columns, rows, empty = 'Nothing here yet.', rowKey }) {
  const windowed = rows.length > WINDOWED_FROM;
  const wrap = useRef(null);
  const [rowHeight, setRowHeight] = useState(40);
  const [first, setFirst] = useState(0);
  const [visible, setVisible] = useState(30);
  useEffect(() => {
    const el = wrap.current;
    if (!windowed || !el) return undefined;
    const onScroll = () => {
      setFirst(Math.max(0, Math.floor(el.scrollTop / rowHeight) - 10));
      setVisible(Math.ceil(el.clientHeight / rowHeight) + 20);
    };
    onScroll();
    el.addEventListener('scroll', onScroll, { passive: true });
    return () => el.removeEventListener('scroll', onScroll);
  }, [windowed, rowHeight]);
  useLayoutEffect(() => {
    const tr = windowed && wrap.current?.querySelector('tbody tr[aria-rowindex]');
    if (tr && Math.abs(tr.offsetHeight - rowHeight) > 1) setRowHeight(tr.offsetHeight);
  });
  if (!rows.length) return html`<p class="empty">${empty}</p>`;
  const from = windowed ? Math.min(first, rows.length) : 0;
  const to = windowed ? Math.min(rows.length, from + visible) : rows.length;
  const spacer = (n, key) =>
    n > 0
      ? html`<tr aria-hidden="true" key=${key} class="spacer">
          <td colspan=${columns.length} style=${{ height: `${n * rowHeight}px` }}></td>
        </tr>`
      : null;
  // Focusable and named: a table wider or longer than its box scrolls, and keyboards must reach it.
  return html`<div
    class=${windowed ? 'table-wrap windowed' : 'table-wrap'}
    tabindex="0"
    role="region"
    aria-label=${windowed ? `${caption}, ${rows.length} rows` : caption}
    ref=${wrap}
  >
    <table aria-rowcount=${rows.length + 1}>
      <caption class="visually-hidden">
        ${caption}
      </caption>
      <thead>
        <tr aria-rowindex="1">
          ${columns.map((c) => html`<th scope="col">${c.label}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${spacer(from, 'before')}
        ${rows.slice(from, to).map(
          (r, i) =>
            html`<tr key=${rowKey ? rowKey(r) : from + i} aria-rowindex=${from + i + 2}>
              ${columns.map((c) => html`<td data-label=${c.label}>${c.value(r)}</td>`)}
            </tr>`,
        )}
        ${spacer(rows.length - to, 'after')}
      </tbody>
    </table>
  </div>`;
}

/** A labelled input. */
export function Field({ label, hint, children }) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return html`<div class="field">
    <label for=${id}>${label}</label>
    ${typeof children === 'function' ? children(id, hintId) : children}
    ${hint ? html`<small id=${hintId}>${hint}</small>` : null}
  </div>`;
}

/** A text input bound to a value. */
export function Text({ label, value, onInput, hint, required, type = 'text', pattern, name }) {
  return html`<${Field} label=${label} hint=${hint}>
    ${(id, hintId) =>
      html`<input
        id=${id}
        name=${name}
        type=${type}
        value=${value}
        required=${required}
        pattern=${pattern}
        aria-describedby=${hintId}
        onInput=${(e) => onInput(e.currentTarget.value)}
      />`}
  <//>`;
}

/** A select bound to a value; options: [value] or [[value, label]]. */
export function Select({ label, value, onChange, options, hint }) {
  return html`<${Field} label=${label} hint=${hint}>
    ${(id, hintId) =>
      html`<select id=${id} aria-describedby=${hintId} onChange=${(e) => onChange(e.currentTarget.value)}>
        ${options.map((o) => {
          const [v, l] = Array.isArray(o) ? o : [o, o];
          return html`<option value=${v} selected=${v === value}>${l}</option>`;
        })}
      </select>`}
  <//>`;
}

/** A checkbox bound to a value. */
export function Check({ label, checked, onChange }) {
  const id = useId();
  return html`<div class="check">
    <input id=${id} type="checkbox" checked=${checked} onChange=${(e) => onChange(e.currentTarget.checked)} />
    <label for=${id}>${label}</label>
  </div>`;
}

/**
 * A text area for PEM (or any text) that also takes a dropped or chosen file, so an operator can
 * drag a certificate in.
 */
export function PemInput({ label, value, onInput, hint, rows = 6 }) {
  const [over, setOver] = useState(false);
  const read = async (file) => file && onInput(await file.text());
  return html`<${Field} label=${label} hint=${hint || 'Paste PEM, drop a file here, or choose one.'}>
    ${(id, hintId) =>
      html`<div class=${`drop ${over ? 'over' : ''}`}>
        <textarea
          id=${id}
          rows=${rows}
          class="mono"
          aria-describedby=${hintId}
          value=${value}
          spellcheck="false"
          onInput=${(e) => onInput(e.currentTarget.value)}
          onDragOver=${(e) => {
            e.preventDefault();
            setOver(true);
          }}
          onDragLeave=${() => setOver(false)}
          onDrop=${(e) => {
            e.preventDefault();
            setOver(false);
            read(e.dataTransfer.files[0]);
          }}
        ></textarea>
        <input
          type="file"
          aria-label=${`${label}: choose a file`}
          accept=".pem,.crt,.cer,.txt"
          onChange=${(e) => read(e.currentTarget.files[0])}
        />
      </div>`}
  <//>`;
}

/** A JSON editor: a text area that says where the JSON is wrong and hands on only valid values. */
export function JsonInput({ label, value, onChange, hint, rows = 8 }) {
  const [text, setText] = useState(() => JSON.stringify(value ?? {}, null, 2));
  const [problem, setProblem] = useState('');
  return html`<${Field} label=${label} hint=${problem || hint}>
    ${(id, hintId) =>
      html`<textarea
        id=${id}
        rows=${rows}
        class="mono"
        spellcheck="false"
        aria-invalid=${problem ? 'true' : 'false'}
        aria-describedby=${hintId}
        value=${text}
        onInput=${(e) => {
          const t = e.currentTarget.value;
          setText(t);
          try {
            onChange(JSON.parse(t));
            setProblem('');
          } catch (err) {
            setProblem(`Not valid JSON: ${err.message}`);
            onChange(undefined);
          }
        }}
      ></textarea>`}
  <//>`;
}

/** A block of text to copy, with a button that copies it. */
export function CopyBlock({ label, text }) {
  const [copied, setCopied] = useState(false);
  return html`<div class="copy">
    <div class="copy-head">
      <span>${label}</span>
      <button
        type="button"
        onClick=${async () => {
          await navigator.clipboard?.writeText(text).catch(() => undefined);
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        }}
      >
        ${copied ? 'Copied' : 'Copy'}
      </button>
    </div>
    <pre class="mono" tabindex="0" aria-label=${label}>${text}</pre>
  </div>`;
}

/** A JSON value shown for reading. */
export function JsonView({ value, label = 'JSON' }) {
  return html`<pre class="mono json" tabindex="0" aria-label=${label}>
${JSON.stringify(value, null, 2)}</pre>`;
}

/** A date as the operator's locale shows it, with the ISO value on hover. */
export function When({ at }) {
  if (!at) return html`<span class="muted">—</span>`;
  const d = new Date(at);
  return html`<time datetime=${at} title=${at}>${d.toLocaleString()}</time>`;
}

/** A status as a badge whose colour follows its meaning. */
export function Badge({ value }) {
  const v = String(value ?? '—');
  const tone = /^(assigned|active|enabled|issued|valid|ok|success|delivered|verified|true)$/i.test(v)
    ? 'good'
    : /^(failed|revoked|disabled|refused|error|inactive|expired|false|denied)$/i.test(v)
      ? 'bad'
      : 'neutral';
  return html`<span class=${`badge ${tone}`}>${v}</span>`;
}

/** Asks before a destructive action; resolves true when the operator agrees. */
export const confirmed = (question) => window.confirm(question);

/** A line chart of [{t, v}] as SVG, described for screen readers by `label`. */
export function LineChart({ label, points, unit = '' }) {
  const w = 480;
  const hgt = 160;
  const max = Math.max(1, ...points.map((p) => p.v));
  const xs = (i) => (points.length < 2 ? 0 : (i / (points.length - 1)) * (w - 40)) + 30;
  const ys = (v) => hgt - 20 - (v / max) * (hgt - 40);
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${xs(i).toFixed(1)},${ys(p.v).toFixed(1)}`).join(' ');
  const last = points.at(-1)?.v ?? 0;
  return html`<figure class="chart">
    <svg
      viewBox=${`0 0 ${w} ${hgt}`}
      role="img"
      aria-label=${`${label}: now ${last}${unit}, highest ${max}${unit}`}
    >
      <line x1="30" y1=${hgt - 20} x2=${w - 10} y2=${hgt - 20} class="axis" />
      <text x="2" y="24" class="tick">${max}</text>
      <text x="2" y=${hgt - 22} class="tick">0</text>
      ${points.length ? html`<path d=${d} class="line" />` : null}
    </svg>
    <figcaption>${label}</figcaption>
  </figure>`;
}

/** A horizontal bar chart of [{label, v}] as SVG. */
export function BarChart({ label, bars }) {
  const max = Math.max(1, ...bars.map((b) => b.v));
  const row = 22;
  const hgt = Math.max(row, bars.length * row) + 4;
  return html`<figure class="chart">
    <svg
      viewBox=${`0 0 480 ${hgt}`}
      role="img"
      aria-label=${`${label}: ${bars.map((b) => `${b.label} ${b.v}`).join(', ') || 'none'}`}
    >
      ${bars.map(
        (b, i) =>
          html`<g>
            <text x="0" y=${i * row + 15} class="tick">${b.label}</text>
            <rect x="220" y=${i * row + 4} height="14" width=${Math.max(2, (b.v / max) * 220)} class="bar" />
            <text x=${226 + (b.v / max) * 220} y=${i * row + 15} class="tick">${b.v}</text>
          </g>`,
      )}
    </svg>
    <figcaption>${label}</figcaption>
  </figure>`;
}
