// Issuing CAs, certificate profiles and EST labels with their users and pending enrollments.
import { get, scoped } from '../api.js';
import { Badge, html, Loaded, Page, Table, useLoad, When } from '../ui.js';

export function Issuance({ ctx }) {
  const load = useLoad(
    () =>
      Promise.all([
        get(scoped(ctx.scope, '/issuing-cas')),
        get(scoped(ctx.scope, '/profiles')),
        get(scoped(ctx.scope, '/est-labels')),
      ]),
    [ctx.scope],
  );
  return html`<${Page} title="Issuing CAs and EST">
    <${Loaded} load=${load}>
      ${([cas, profiles, labels]) => html`
        <h2>Issuing CAs</h2>
        <${Table}
          caption="Issuing CAs"
          rows=${cas}
          rowKey=${(c) => c.name}
          empty="No issuing CA: zerotouch issuing-ca create."
          columns=${[
            { label: 'Name', value: (c) => c.name },
            { label: 'Subject', value: (c) => c.subject },
            { label: 'Key', value: (c) => c.keyStorage },
            { label: 'Expires', value: (c) => html`<${When} at=${c.notAfterUtc} />` },
            { label: 'CRL', value: (c) => (c.crlUrl ? html`<code class="wrap">${c.crlUrl}</code>` : '—') },
          ]}
        />
        <h2>Certificate profiles</h2>
        <${Table}
          caption="Certificate profiles"
          rows=${profiles}
          rowKey=${(p) => p.name}
          empty="No profile."
          columns=${[
            { label: 'Name', value: (p) => p.name },
            { label: 'Kind', value: (p) => p.kind },
            {
              label: 'Validity',
              value: (p) => (p.validityHours ? `${p.validityHours} h` : `${p.validityDays} days`),
            },
            {
              label: 'Key usage',
              value: (p) => [...(p.keyUsage ?? []), ...(p.extKeyUsage ?? [])].join(', ') || '—',
            },
            { label: 'Key types', value: (p) => (p.allowedKeyTypes ?? []).join(', ') || 'any' },
          ]}
        />
        <h2>EST labels</h2>
        <${Table}
          caption="EST labels"
          rows=${labels}
          rowKey=${(l) => l.label}
          empty="No EST label."
          columns=${[
            { label: 'Label', value: (l) => html`${l.label}${l.default ? ' (default)' : ''}` },
            { label: 'Issuing CA', value: (l) => l.issuingCa },
            { label: 'Profile', value: (l) => l.profile },
            {
              label: 'Password',
              value: (l) => html`<${Badge} value=${l.basicAuth ? 'enabled' : 'disabled'} />`,
            },
            {
              label: 'Certificate',
              value: (l) => html`<${Badge} value=${l.certAuth ? 'enabled' : 'disabled'} />`,
            },
            { label: 'Approval', value: (l) => (l.manualApproval ? 'manual' : 'automatic') },
            { label: 'Users', value: (l) => (l.users ?? []).join(', ') || '—' },
          ]}
        />
      `}
    <//>
  <//>`;
}
