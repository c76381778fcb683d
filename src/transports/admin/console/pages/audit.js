// The scope's audit trail: admin changes, device refusals, issuance and revocation, with filters.
import { useState } from 'preact/hooks';
import { get, query, scoped } from '../api.js';
import { Badge, html, Loaded, Page, Select, Table, Text, useLoad, When } from '../ui.js';

export function Audit({ ctx }) {
  const [form, setForm] = useState({ action: '', target: '', outcome: '' });
  const [filter, setFilter] = useState(form);
  const set = (k) => (v) => setForm((f) => ({ ...f, [k]: v }));
  // The API lists oldest first: page through the last 30 days and keep the newest 1,000.
  const load = useLoad(async () => {
    const since = new Date(Date.now() - 30 * 86400e3).toISOString();
    let rows = [];
    for (let pages = 0, after; pages < 20; pages++) {
      const page = await get(scoped(ctx.scope, `/audit${query({ ...filter, since, after, max: 1000 })}`));
      rows = [...rows, ...page].slice(-1000);
      if (page.length < 1000) break;
      after = page.at(-1).seq;
    }
    return rows.reverse();
  }, [ctx.scope, filter]);
  return html`<${Page} title="Audit trail">
    <form
      class="filters"
      onSubmit=${(e) => {
        e.preventDefault();
        setFilter({ ...form });
      }}
    >
      <${Text}
        label="Action"
        value=${form.action}
        onInput=${set('action')}
        hint="e.g. registration.refused, certificate.revoked"
      />
      <${Text}
        label="Target"
        value=${form.target}
        onInput=${set('target')}
        hint="e.g. registration/device-01"
      />
      <${Select}
        label="Outcome"
        value=${form.outcome}
        onChange=${set('outcome')}
        options=${[['', 'any'], 'ok', 'refused', 'failed']}
      />
      <button type="submit">Filter</button>
    </form>
    <${Loaded} load=${load}>
      ${(rows) =>
        html`<${Table}
          caption="Audit records, newest first"
          rows=${rows}
          rowKey=${(r) => r.seq}
          empty="No record in the last 30 days matches."
          columns=${[
            { label: 'When', value: (r) => html`<${When} at=${r.at} />` },
            {
              label: 'Who',
              value: (r) =>
                `${r.actor.kind}${r.actor.name ? `: ${r.actor.name}` : r.actor.id ? `: ${r.actor.id}` : ''}`,
            },
            { label: 'Action', value: (r) => r.action },
            { label: 'Target', value: (r) => r.target },
            { label: 'Outcome', value: (r) => html`<${Badge} value=${r.outcome} />` },
            { label: 'Code', value: (r) => r.code ?? '—' },
            { label: 'Reason', value: (r) => r.detail?.reason ?? '—' },
          ]}
        />`}
    <//>
  <//>`;
}
