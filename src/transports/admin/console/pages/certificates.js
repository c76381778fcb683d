// Certificates zerotouch issued: search by subject, CA, status and expiry; revoke.
import { useState } from 'preact/hooks';
import { call, listAll, query, scoped, seg } from '../api.js';
import {
  Badge,
  ErrorBox,
  html,
  Loaded,
  Notice,
  Page,
  Select,
  Table,
  Text,
  useAction,
  useLoad,
  When,
} from '../ui.js';

const REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
];

export function Certificates({ ctx }) {
  const [subject, setSubject] = useState('');
  const [status, setStatus] = useState('');
  const [days, setDays] = useState('');
  const [reason, setReason] = useState('unspecified');
  const [search, setSearch] = useState({});
  const load = useLoad(
    () => listAll(scoped(ctx.scope, `/certificates${query(search)}`)),
    [ctx.scope, search],
  );
  const action = useAction();
  const revoke = (c) =>
    window.confirm(
      `Revoke ${c.subject} (serial ${c.serialNumber}) as ${reason}? Devices using it are refused from now on.`,
    ) &&
    action.run(async () => {
      await call('POST', scoped(ctx.scope, `/certificates/${seg(c.serialNumber)}/revoke`), { reason });
      load.reload();
      return `Revoked ${c.serialNumber}.`;
    });
  return html`<${Page} title="Issued certificates">
    <form
      class="filters"
      onSubmit=${(e) => {
        e.preventDefault();
        setSearch({
          subject: subject.trim(),
          status,
          expiringBefore: days ? new Date(Date.now() + Number(days) * 86400e3).toISOString() : undefined,
        });
      }}
    >
      <${Text} label="Subject contains" value=${subject} onInput=${setSubject} />
      <${Select}
        label="Status"
        value=${status}
        onChange=${setStatus}
        options=${[['', 'any'], 'valid', 'revoked']}
      />
      <${Text} label="Expiring within (days)" type="number" value=${days} onInput=${setDays} />
      <button type="submit">Search</button>
    </form>
    ${
      ctx.canWrite
        ? html`<div class="filters">
            <${Select} label="Revocation reason" value=${reason} onChange=${setReason} options=${REASONS} />
          </div>`
        : null
    }
    <${Loaded} load=${load}>
      ${({ items, more }) =>
        html`<${Table}
            caption="Issued certificates"
            rows=${items}
            rowKey=${(c) => c.serialNumber}
            empty="No certificate matches."
            columns=${[
              { label: 'Subject', value: (c) => c.subject },
              { label: 'Serial', value: (c) => html`<code class="wrap">${c.serialNumber}</code>` },
              { label: 'Issuing CA', value: (c) => c.issuingCa },
              { label: 'How', value: (c) => c.method },
              {
                label: 'Status',
                value: (c) =>
                  html`<${Badge} value=${c.status} />${c.revocationReason ? ` (${c.revocationReason})` : ''}`,
              },
              { label: 'Expires', value: (c) => html`<${When} at=${c.notAfterUtc} />` },
              ...(ctx.canWrite
                ? [
                    {
                      label: 'Actions',
                      value: (c) =>
                        c.status === 'revoked'
                          ? '—'
                          : html`<button
                              type="button"
                              class="danger"
                              aria-label=${`Revoke ${c.subject} ${c.serialNumber}`}
                              onClick=${() => revoke(c)}
                            >
                              Revoke
                            </button>`,
                    },
                  ]
                : []),
            ]}
          />
          ${more ? html`<p class="muted">The first 1,000 are shown; narrow the search.</p>` : null}`}
    <//>
    <${ErrorBox} error=${action.error} />
    <${Notice}>${action.done}<//>
  <//>`;
}
