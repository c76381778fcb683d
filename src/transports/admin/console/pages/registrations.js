// Device registrations: state, substatus and failure reason; one device's history (its
// registrations, refusals and failures from the audit trail).
import { useState } from 'preact/hooks';
import { ApiError, call, get, listAll, query, scoped, seg } from '../api.js';
import {
  Badge,
  confirmed,
  ErrorBox,
  html,
  JsonView,
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

/** One device's audit records, oldest first. */
export async function historyOf(scope, target) {
  return get(scoped(scope, `/audit${query({ target, max: 500 })}`));
}

export function HistoryTable({ rows, caption }) {
  return html`<${Table}
    caption=${caption}
    rows=${rows}
    rowKey=${(r) => r.seq}
    empty="Nothing recorded."
    columns=${[
      { label: 'When', value: (r) => html`<${When} at=${r.at} />` },
      { label: 'What', value: (r) => r.action },
      { label: 'Outcome', value: (r) => html`<${Badge} value=${r.outcome} />` },
      { label: 'Code', value: (r) => (r.code ? html`<code>${r.code}</code>` : '—') },
      {
        label: 'Detail',
        value: (r) => {
          const d = r.detail ?? {};
          return (
            [d.reason, d.assignedHub && `→ ${d.assignedHub}`, d.substatus].filter(Boolean).join(' ') || '—'
          );
        },
      },
      { label: 'By', value: (r) => r.actor?.name ?? r.actor?.id ?? r.actor?.kind },
    ]}
  />`;
}

function Detail({ ctx, id }) {
  const load = useLoad(async () => {
    const record = await get(scoped(ctx.scope, `/registrations/${seg(id)}`)).catch((e) => {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    });
    return { record, history: await historyOf(ctx.scope, `registration/${id}`) };
  }, [id]);
  const action = useAction();
  const remove = () =>
    confirmed(`Delete the registration record of ${id}? The device registers anew next time.`) &&
    action.run(async () => {
      await call('DELETE', scoped(ctx.scope, `/registrations/${seg(id)}`));
      load.reload();
      return 'Deleted.';
    });
  return html`<${Page}
    title=${`Registration ${id}`}
    actions=${html`<a href=${`#/s/${ctx.scope}/registrations`}>All registrations</a>`}
  >
    <${Loaded} load=${load}>
      ${({ record: r, history }) => html`
        ${
          r
            ? html`<dl class="facts">
                  <dt>Status</dt>
                  <dd><${Badge} value=${r.status} /></dd>
                  <dt>Substatus</dt>
                  <dd>${r.substatus ?? '—'}</dd>
                  <dt>Hub</dt>
                  <dd>${r.assignedHub ?? '—'}</dd>
                  <dt>Device ID</dt>
                  <dd>${r.deviceId ?? '—'}</dd>
                  ${
                    r.errorCode
                      ? html`<dt>Failure</dt>
                          <dd class="reason"><code>${r.errorCode}</code> ${r.errorMessage}</dd>`
                      : null
                  }
                  <dt>Certificate</dt>
                  <dd>
                    ${r.x509?.enrollmentGroupId ? `group ${r.x509.enrollmentGroupId}` : 'individual'}${r.x509?.clientCertificateInfo?.subjectName ? `, ${r.x509.clientCertificateInfo.subjectName}` : ''}
                  </dd>
                  <dt>Created</dt>
                  <dd><${When} at=${r.createdDateTimeUtc} /></dd>
                  <dt>Updated</dt>
                  <dd><${When} at=${r.lastUpdatedDateTimeUtc} /></dd>
                </dl>
                ${
                  r.payload
                    ? html`<h2>Payload</h2>
                        <${JsonView} value=${r.payload} label="Payload" />`
                    : null
                }
                ${ctx.canWrite ? html`<button type="button" class="danger" onClick=${remove}>Delete registration</button>` : null}`
            : html`<p>
                No registration record: the device never got as far as an enrollment. Its refusals are below.
              </p>`
        }
        <h2>History</h2>
        <${HistoryTable} rows=${history} caption=${`History of ${id}`} />
      `}
    <//>
    <${ErrorBox} error=${action.error} />
    <${Notice}>${action.done}<//>
  <//>`;
}

function List({ ctx }) {
  const [status, setStatus] = useState('');
  const [group, setGroup] = useState('');
  const [lookup, setLookup] = useState('');
  const load = useLoad(
    () => listAll(scoped(ctx.scope, `/registrations${query({ status, enrollmentGroup: group })}`)),
    [ctx.scope, status, group],
  );
  return html`<${Page} title="Registrations">
    <form
      class="filters"
      onSubmit=${(e) => {
        e.preventDefault();
        if (lookup.trim())
          location.hash = `#/s/${ctx.scope}/registrations/${encodeURIComponent(lookup.trim())}`;
      }}
    >
      <${Select}
        label="Status"
        value=${status}
        onChange=${setStatus}
        options=${[['', 'any'], 'assigned', 'assigning', 'failed', 'disabled']}
      />
      <${Text} label="Enrollment group" value=${group} onInput=${setGroup} />
      <${Text}
        label="Registration ID"
        value=${lookup}
        onInput=${setLookup}
        hint="Shows the record and history, also of refused devices."
      />
      <button type="submit">Look up</button>
    </form>
    <${Loaded} load=${load}>
      ${({ items, more }) =>
        html`<${Table}
            caption="Registrations"
            rows=${items}
            rowKey=${(r) => r.registrationId}
            empty="No registration matches."
            columns=${[
              {
                label: 'Registration ID',
                value: (r) =>
                  html`<a href=${`#/s/${ctx.scope}/registrations/${encodeURIComponent(r.registrationId)}`}
                    >${r.registrationId}</a
                  >`,
              },
              { label: 'Status', value: (r) => html`<${Badge} value=${r.status} />` },
              { label: 'Substatus', value: (r) => r.substatus ?? '—' },
              { label: 'Hub', value: (r) => r.assignedHub ?? '—' },
              {
                label: 'Reason',
                value: (r) => (r.errorCode ? `${r.errorCode}: ${r.errorMessage ?? ''}` : '—'),
              },
              { label: 'Updated', value: (r) => html`<${When} at=${r.lastUpdatedDateTimeUtc} />` },
            ]}
          />
          ${more ? html`<p class="muted">The first 1,000 are shown; filter, or page with the CLI or API.</p>` : null}`}
    <//>
  <//>`;
}

export function Registrations({ ctx }) {
  return ctx.route[1]
    ? html`<${Detail} ctx=${ctx} id=${ctx.route[1]} key=${ctx.route[1]} />`
    : html`<${List} ctx=${ctx} />`;
}
