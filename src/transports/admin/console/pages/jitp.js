// JITP and JITR: the CAs registered for them, the scope's provisioning templates, and a panel that
// shows what a template would make of a certificate, creating nothing.
import { useState } from 'preact/hooks';
import { call, get, scoped } from '../api.js';
import {
  Badge,
  ErrorBox,
  html,
  JsonView,
  Loaded,
  Page,
  PemInput,
  Select,
  Table,
  useAction,
  useLoad,
  When,
  Field,
} from '../ui.js';

/** The plan of a template test in the operator's words: one block per resource. */
function Plan({ plan }) {
  const t = plan.thing;
  const c = plan.certificate;
  return html`<div class="plan" aria-live="polite">
    <h3>Parameters</h3>
    <dl class="facts">
      ${Object.entries(plan.parameters).map(
        ([k, v]) =>
          html`<dt>${k}</dt>
            <dd>${v}</dd>`,
      )}
    </dl>
    ${
      t
        ? html`<h3>Thing <code>${t.name}</code></h3>
            <ul>
              <li>
                type:
                ${t.thingType ?? 'none'}${t.thingType ? ` (if it exists: ${t.overrides.thingType})` : ''}
              </li>
              <li>
                attributes:
                ${
                  Object.entries(t.attributes)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(', ') || 'none'
                }
                (if it exists: ${t.overrides.attributes})
              </li>
              <li>groups: ${t.groups.join(', ') || 'none'} (if it exists: ${t.overrides.groups})</li>
              ${t.billingGroup ? html`<li>billing group: ${t.billingGroup}</li>` : null}
            </ul>`
        : null
    }
    ${
      c
        ? html`<h3>Certificate</h3>
            <ul>
              <li>status: ${c.status} (if it exists: ${c.statusOverride})</li>
            </ul>`
        : null
    }
    ${plan.policies.map(
      (p) =>
        html`<h3>Policy <code>${p.name}</code>${p.document ? '' : ': an existing policy'}</h3>
          ${p.document ? html`<${JsonView} value=${p.document} label=${`Policy ${p.name}`} />` : null}`,
    )}
  </div>`;
}

function TestPanel({ ctx, templates }) {
  const [source, setSource] = useState(
    templates[0]?.templateName ? `name:${templates[0].templateName}` : 'body',
  );
  const [body, setBody] = useState('');
  const [cert, setCert] = useState('');
  const action = useAction();
  const run = (e) => {
    e.preventDefault();
    action.run(async () => {
      const req = { certificate: cert };
      if (source === 'body') req.templateBody = body;
      else req.templateName = source.slice(5);
      return (await call('POST', scoped(ctx.scope, '/iot/templates/test'), req)).data;
    });
  };
  return html`<form class="card" onSubmit=${run}>
    <h2>Test a template against a certificate</h2>
    <p>
      Shows the thing, certificate and policies the template would make for this device. Nothing is created.
    </p>
    <${Select}
      label="Template"
      value=${source}
      onChange=${setSource}
      options=${[...templates.map((t) => [`name:${t.templateName}`, t.templateName]), ['body', 'paste a template body…']]}
    />
    ${
      source === 'body'
        ? html`<${Field} label="Template body (JSON)">
            ${(id) => html`<textarea id=${id} class="mono" rows="8" spellcheck="false" value=${body} onInput=${(e) => setBody(e.currentTarget.value)}></textarea>`}
          <//>`
        : null
    }
    <${PemInput} label="Device certificate (PEM)" value=${cert} onInput=${setCert} />
    <button type="submit" class="primary" disabled=${action.busy || !cert.trim()}>Test</button>
    <${ErrorBox} error=${action.error} />
    ${action.done ? html`<${Plan} plan=${action.done} />` : null}
  </form>`;
}

export function Jitp({ ctx }) {
  const load = useLoad(async () => {
    const [cas, templates, settings, code] = await Promise.all([
      get(scoped(ctx.scope, '/cas')),
      get(scoped(ctx.scope, '/iot/templates')),
      get(scoped(ctx.scope, '/iot/settings')),
      get(scoped(ctx.scope, '/iot/registration-code')),
    ]);
    return { cas: cas.filter((c) => c.awsRegistration), templates, settings, code };
  }, [ctx.scope]);
  return html`<${Page} title="JITP and JITR">
    <${Loaded} load=${load}>
      ${({ cas, templates, settings, code }) => html`
        <dl class="facts">
          <dt>Registration code</dt>
          <dd><code>${code.registrationCode}</code></dd>
          <dt>ARN prefix</dt>
          <dd><code>arn:aws:iot:${settings.region}:${settings.account}</code></dd>
          <dt>Endpoint (SNI)</dt>
          <dd>${settings.endpoint ?? 'none'}</dd>
        </dl>
        <h2>Registered CAs</h2>
        <${Table}
          caption="CAs registered for JITP and JITR"
          rows=${cas}
          rowKey=${(c) => c.name}
          empty="No CA registered for JITP/JITR: zerotouch iot ca register <name> after uploading it."
          columns=${[
            {
              label: 'CA',
              value: (c) =>
                html`<a href=${`#/s/${ctx.scope}/cas/${encodeURIComponent(c.name)}`}>${c.name}</a>`,
            },
            { label: 'Status', value: (c) => html`<${Badge} value=${c.awsRegistration.status} />` },
            { label: 'Mode', value: (c) => c.awsRegistration.certificateMode },
            { label: 'Auto-registration', value: (c) => c.awsRegistration.autoRegistration },
            {
              label: 'Template',
              value: (c) =>
                c.awsRegistration.registrationConfig?.templateName ??
                (c.awsRegistration.registrationConfig?.templateBody
                  ? 'inline template (JITP)'
                  : 'none (JITR)'),
            },
            { label: 'First connection', value: (c) => c.awsRegistration.firstConnection },
          ]}
        />
        <h2>Provisioning templates</h2>
        <${Table}
          caption="Provisioning templates"
          rows=${templates}
          rowKey=${(t) => t.templateName}
          empty="No saved template."
          columns=${[
            { label: 'Name', value: (t) => t.templateName },
            { label: 'Type', value: (t) => t.type },
            {
              label: 'Enabled',
              value: (t) => html`<${Badge} value=${t.enabled ? 'enabled' : 'disabled'} />`,
            },
            { label: 'Description', value: (t) => t.description ?? '—' },
            { label: 'Changed', value: (t) => html`<${When} at=${t.lastModifiedAt} />` },
          ]}
        />
        <${TestPanel} ctx=${ctx} templates=${templates.filter((t) => t.type === 'JITP')} />
      `}
    <//>
  <//>`;
}
