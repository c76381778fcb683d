// Enrollment groups and individual enrollments: list, create, edit with etags, disable, the
// initial twin, allocation and reprovisioning.
import { useState } from 'preact/hooks';
import { call, get, listAll, scoped, seg } from '../api.js';
import {
  Badge,
  Check,
  confirmed,
  ErrorBox,
  html,
  JsonInput,
  Loaded,
  Notice,
  Page,
  PemInput,
  Select,
  Table,
  Text,
  useAction,
  useLoad,
} from '../ui.js';

const KINDS = {
  groups: { path: '/enrollment-groups', id: 'enrollmentGroupId', title: 'Enrollment groups', one: 'group' },
  enrollments: {
    path: '/enrollments',
    id: 'registrationId',
    title: 'Individual enrollments',
    one: 'enrollment',
  },
};

const caOf = (e) => e.attestation?.x509?.caReferences?.primary;

/** The form's fields from an enrollment (or defaults for a new one). */
function formOf(e) {
  return {
    id: '',
    ca: caOf(e ?? {}) ?? '',
    certificate: e?.attestation?.x509?.clientCertificates?.primary?.certificate ?? '',
    deviceId: e?.deviceId ?? '',
    enabled: (e?.provisioningStatus ?? 'enabled') === 'enabled',
    allocationPolicy: e?.allocationPolicy ?? 'hashed',
    iotHubs: (e?.iotHubs ?? []).join(', '),
    updateHubAssignment: e?.reprovisionPolicy?.updateHubAssignment ?? true,
    migrateDeviceData: e?.reprovisionPolicy?.migrateDeviceData ?? true,
    iotEdge: e?.capabilities?.iotEdge ?? false,
    priority: e?.priority == null ? '' : String(e.priority),
    initialTwin: e?.initialTwin ?? { tags: {}, properties: { desired: {} } },
  };
}

/** The API body of the form: what a create sends, and what an edit merges. */
function bodyOf(kind, f, isNew) {
  const hubs = f.iotHubs
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  const body = {
    provisioningStatus: f.enabled ? 'enabled' : 'disabled',
    allocationPolicy: f.allocationPolicy,
    iotHubs: hubs,
    reprovisionPolicy: { updateHubAssignment: f.updateHubAssignment, migrateDeviceData: f.migrateDeviceData },
    capabilities: { iotEdge: f.iotEdge },
    initialTwin: f.initialTwin,
  };
  if (kind === 'groups') {
    body.priority = f.priority === '' ? null : Number(f.priority);
    body.attestation = { type: 'x509', x509: { caReferences: { primary: f.ca } } };
  } else {
    if (f.deviceId) body.deviceId = f.deviceId;
    if (isNew || f.certificate)
      body.attestation = {
        type: 'x509',
        x509: { clientCertificates: { primary: { certificate: f.certificate } } },
      };
  }
  if (isNew) body[KINDS[kind].id] = f.id.trim();
  return body;
}

function Editor({ ctx, kind, id }) {
  const k = KINDS[kind];
  const isNew = id === undefined;
  const load = useLoad(async () => {
    const cas = await get(scoped(ctx.scope, '/cas'));
    if (isNew) return { cas, enrollment: null, etag: null };
    const { data, etag } = await call('GET', scoped(ctx.scope, `${k.path}/${seg(id)}`));
    return { cas, enrollment: data, etag: etag ?? data.etag };
  }, [id]);
  return html`<${Page}
    title=${isNew ? `New ${k.one}` : `${k.one === 'group' ? 'Group' : 'Enrollment'} ${id}`}
    actions=${html`<a href=${`#/s/${ctx.scope}/${kind}`}>All ${k.title.toLowerCase()}</a>`}
  >
    <${Loaded} load=${load}>
      ${(d) => html`<${EditorForm} ctx=${ctx} kind=${kind} id=${id} initial=${d} onSaved=${load.reload} />`}
    <//>
  <//>`;
}

function EditorForm({ ctx, kind, id, initial }) {
  const k = KINDS[kind];
  const isNew = id === undefined;
  const [f, setF] = useState(() => formOf(initial.enrollment));
  const [etag, setEtag] = useState(initial.etag);
  const set = (key) => (v) => setF((old) => ({ ...old, [key]: v }));
  const action = useAction();
  const readOnly = !ctx.canWrite;
  const save = (e) => {
    e.preventDefault();
    if (f.initialTwin === undefined) return;
    action.run(async () => {
      if (isNew) {
        await call('POST', scoped(ctx.scope, k.path), bodyOf(kind, f, true));
        location.hash = `#/s/${ctx.scope}/${kind}/${encodeURIComponent(f.id.trim())}`;
        return 'Created.';
      }
      const { data, etag: next } = await call(
        'PATCH',
        scoped(ctx.scope, `${k.path}/${seg(id)}`),
        bodyOf(kind, f, false),
        {
          ifMatch: etag,
        },
      );
      setEtag(next ?? data.etag);
      return `Saved (etag ${next ?? data.etag}).`;
    });
  };
  return html`<form class="card" onSubmit=${save}>
    <fieldset disabled=${readOnly}>
      <legend class="visually-hidden">${k.one} settings</legend>
      ${
        isNew
          ? html`<${Text}
              label=${kind === 'groups' ? 'Group ID' : 'Registration ID'}
              value=${f.id}
              onInput=${set('id')}
              required
            />`
          : html`<p>Etag <code>${etag}</code>: saving fails if someone changed it since.</p>`
      }
      ${
        kind === 'groups'
          ? html`<${Select}
                label="CA certificate (devices whose chain reaches it)"
                value=${f.ca}
                onChange=${set('ca')}
                options=${[['', 'choose a CA…'], ...initial.cas.map((c) => [c.name, `${c.name}${c.isVerified ? '' : ' (unverified)'}`])]}
              />
              <${Text}
                label="Priority"
                type="number"
                value=${f.priority}
                onInput=${set('priority')}
                hint="Needed when another group uses the same CA: the higher wins."
              />`
          : html`<${PemInput}
                label="Device certificate (PEM)"
                value=${f.certificate}
                onInput=${set('certificate')}
              />
              <${Text} label="Device ID (optional)" value=${f.deviceId} onInput=${set('deviceId')} />`
      }
      <${Check} label="Enabled" checked=${f.enabled} onChange=${set('enabled')} />
      <${Check} label="IoT Edge device" checked=${f.iotEdge} onChange=${set('iotEdge')} />
      <${Select}
        label="Allocation policy"
        value=${f.allocationPolicy}
        onChange=${set('allocationPolicy')}
        options=${[
          ['hashed', 'evenly weighted (hashed)'],
          ['geoLatency', 'lowest latency (geoLatency)'],
          ['static', 'static'],
          ['custom', 'custom (webhook)'],
        ]}
      />
      <${Text}
        label="Hubs"
        value=${f.iotHubs}
        onInput=${set('iotHubs')}
        hint="Host names, comma separated; empty: every linked hub."
      />
      <fieldset>
        <legend>When a device registers again</legend>
        <${Check}
          label="Update the hub assignment"
          checked=${f.updateHubAssignment}
          onChange=${set('updateHubAssignment')}
        />
        <${Check}
          label="Migrate device data"
          checked=${f.migrateDeviceData}
          onChange=${set('migrateDeviceData')}
        />
      </fieldset>
      <${JsonInput}
        label="Initial twin (JSON)"
        value=${f.initialTwin}
        onChange=${set('initialTwin')}
        hint='{"tags": {...}, "properties": {"desired": {...}}}'
      />
      ${
        readOnly
          ? null
          : html`<button type="submit" class="primary" disabled=${action.busy || f.initialTwin === undefined}>
              ${isNew ? 'Create' : 'Save'}
            </button>`
      }
    </fieldset>
    <${ErrorBox} error=${action.error} />
    <${Notice}>${action.done}<//>
  </form>`;
}

function List({ ctx, kind }) {
  const k = KINDS[kind];
  const load = useLoad(() => listAll(scoped(ctx.scope, k.path)), [ctx.scope, kind]);
  const action = useAction();
  const toggle = (e) =>
    action.run(async () => {
      const next = e.provisioningStatus === 'enabled' ? 'disabled' : 'enabled';
      await call(
        'PATCH',
        scoped(ctx.scope, `${k.path}/${seg(e[k.id])}`),
        { provisioningStatus: next },
        { ifMatch: e.etag },
      );
      load.reload();
      return `${e[k.id]} is ${next}.`;
    });
  const remove = (e) =>
    confirmed(`Delete ${k.one} ${e[k.id]}?`) &&
    action.run(async () => {
      await call('DELETE', scoped(ctx.scope, `${k.path}/${seg(e[k.id])}`));
      load.reload();
      return `Deleted ${e[k.id]}.`;
    });
  return html`<${Page}
    title=${k.title}
    actions=${ctx.canWrite ? html`<a class="button" href=${`#/s/${ctx.scope}/${kind}/+new`}>New ${k.one}</a>` : null}
  >
    <${Loaded} load=${load}>
      ${({ items, more }) =>
        html`<${Table}
            caption=${k.title}
            rows=${items}
            rowKey=${(e) => e[k.id]}
            columns=${[
              {
                label: 'ID',
                value: (e) =>
                  html`<a href=${`#/s/${ctx.scope}/${kind}/${encodeURIComponent(e[k.id])}`}>${e[k.id]}</a>`,
              },
              ...(kind === 'groups'
                ? [{ label: 'CA', value: (e) => caOf(e) ?? '—' }]
                : [{ label: 'Device ID', value: (e) => e.deviceId ?? '—' }]),
              { label: 'Status', value: (e) => html`<${Badge} value=${e.provisioningStatus} />` },
              { label: 'Allocation', value: (e) => e.allocationPolicy ?? 'hashed' },
              { label: 'Hubs', value: (e) => (e.iotHubs ?? []).join(', ') || 'all' },
              ...(ctx.canWrite
                ? [
                    {
                      label: 'Actions',
                      value: (e) =>
                        html`<div class="row-actions">
                          <button
                            type="button"
                            onClick=${() => toggle(e)}
                            aria-label=${`${e.provisioningStatus === 'enabled' ? 'Disable' : 'Enable'} ${e[k.id]}`}
                          >
                            ${e.provisioningStatus === 'enabled' ? 'Disable' : 'Enable'}
                          </button>
                          <button
                            type="button"
                            class="danger"
                            onClick=${() => remove(e)}
                            aria-label=${`Delete ${e[k.id]}`}
                          >
                            Delete
                          </button>
                        </div>`,
                    },
                  ]
                : []),
            ]}
          />
          ${more ? html`<p class="muted">The first 1,000 are shown; the CLI and API page through all.</p>` : null}`}
    <//>
    <${ErrorBox} error=${action.error} />
    <${Notice}>${action.done}<//>
  <//>`;
}

export function Groups({ ctx }) {
  return page(ctx, 'groups');
}

export function Enrollments({ ctx }) {
  return page(ctx, 'enrollments');
}

function page(ctx, kind) {
  const id = ctx.route[1];
  if (!id) return html`<${List} ctx=${ctx} kind=${kind} />`;
  return html`<${Editor} ctx=${ctx} kind=${kind} id=${id === '+new' ? undefined : id} key=${id} />`;
}
