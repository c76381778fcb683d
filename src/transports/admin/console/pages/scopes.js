// ID scopes (tenants): list, create, delete.
import { useState } from 'preact/hooks';
import { call, seg } from '../api.js';
import { confirmed, ErrorBox, html, Notice, Page, Table, Text, useAction, When } from '../ui.js';

export function Scopes({ ctx }) {
  const [name, setName] = useState('');
  const action = useAction();
  const create = (e) => {
    e.preventDefault();
    action.run(async () => {
      const { data } = await call('POST', '/v1/tenants', { name: name.trim() });
      setName('');
      ctx.reloadTenants();
      return `Created ${data.name}: ID scope ${data.idScope}`;
    });
  };
  const remove = (t) =>
    confirmed(`Delete ${t.name} (${t.idScope}) with every CA, enrollment, registration and key it holds?`) &&
    action.run(async () => {
      await call('DELETE', `/v1/tenants/${seg(t.idScope)}`);
      ctx.reloadTenants();
      return `Deleted ${t.idScope}`;
    });
  return html`<${Page} title="ID scopes">
    <p class="lead">Each ID scope is a tenant: its own CAs, enrollments, registrations and keys.</p>
    <${Table}
      caption="ID scopes"
      rows=${ctx.tenants}
      rowKey=${(t) => t.id}
      empty="No ID scope yet."
      columns=${[
        { label: 'Name', value: (t) => html`<a href=${`#/s/${t.idScope}/dashboard`}>${t.name}</a>` },
        { label: 'ID scope', value: (t) => html`<code>${t.idScope}</code>` },
        { label: 'Created', value: (t) => html`<${When} at=${t.createdAt} />` },
        ...(ctx.isAdmin
          ? [
              {
                label: 'Actions',
                value: (t) =>
                  html`<button
                    type="button"
                    class="danger"
                    onClick=${() => remove(t)}
                    aria-label=${`Delete ${t.name}`}
                  >
                    Delete
                  </button>`,
              },
            ]
          : []),
      ]}
    />
    ${
      ctx.isAdmin
        ? html`<form class="card" onSubmit=${create}>
            <h2>New ID scope</h2>
            <${Text} label="Name" value=${name} onInput=${setName} required />
            <button type="submit" class="primary" disabled=${action.busy}>Create ID scope</button>
          </form>`
        : null
    }
    <${ErrorBox} error=${action.error} />
    <${Notice}>${action.done}<//>
  <//>`;
}
