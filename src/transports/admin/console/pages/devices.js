// The device registry (DPS-side devices with twins and status) and the IoT registry's things.
import { call, get, listAll, scoped, seg } from '../api.js';
import {
  Badge,
  ErrorBox,
  html,
  JsonView,
  Loaded,
  Notice,
  Page,
  Table,
  useAction,
  useLoad,
  When,
} from '../ui.js';

function DeviceDetail({ ctx, hub, id }) {
  const load = useLoad(() => get(scoped(ctx.scope, `/devices/${seg(hub)}/${seg(id)}`)), [hub, id]);
  const action = useAction();
  const setStatus = (d, status) =>
    action.run(async () => {
      await call('PATCH', scoped(ctx.scope, `/devices/${seg(hub)}/${seg(id)}`), { status });
      load.reload();
      return `${id} is ${status}.`;
    });
  return html`<${Page}
    title=${`Device ${id}`}
    actions=${html`<a href=${`#/s/${ctx.scope}/devices`}>All devices</a>`}
  >
    <${Loaded} load=${load}>
      ${(d) =>
        html`<dl class="facts">
            <dt>Hub</dt>
            <dd>${d.hub}</dd>
            <dt>Status</dt>
            <dd><${Badge} value=${d.status} />${d.statusReason ? ` (${d.statusReason})` : ''}</dd>
            <dt>Registration</dt>
            <dd>
              <a href=${`#/s/${ctx.scope}/registrations/${encodeURIComponent(d.registrationId)}`}
                >${d.registrationId}</a
              >
            </dd>
            <dt>Connection</dt>
            <dd>${d.connectionState ?? '—'}</dd>
            <dt>Last activity</dt>
            <dd><${When} at=${d.lastActivityTime} /></dd>
          </dl>
          ${
            ctx.canWrite
              ? html`<button
                  type="button"
                  onClick=${() => setStatus(d, d.status === 'enabled' ? 'disabled' : 'enabled')}
                >
                  ${d.status === 'enabled' ? 'Disable device' : 'Enable device'}
                </button>`
              : null
          }
          <h2>Twin</h2>
          <${JsonView} value=${d.twin} label="Twin" />`}
    <//>
    <${ErrorBox} error=${action.error} />
    <${Notice}>${action.done}<//>
  <//>`;
}

function DeviceList({ ctx }) {
  const load = useLoad(() => listAll(scoped(ctx.scope, '/devices')), [ctx.scope]);
  return html`<${Page} title="Devices">
    <${Loaded} load=${load}>
      ${({ items }) =>
        html`<${Table}
          caption="Devices"
          rows=${items}
          rowKey=${(d) => `${d.hub}/${d.deviceId}`}
          empty="No device has registered yet."
          columns=${[
            {
              label: 'Device ID',
              value: (d) =>
                html`<a
                  href=${`#/s/${ctx.scope}/devices/${encodeURIComponent(d.hub)}/${encodeURIComponent(d.deviceId)}`}
                  >${d.deviceId}</a
                >`,
            },
            { label: 'Hub', value: (d) => d.hub },
            { label: 'Status', value: (d) => html`<${Badge} value=${d.status} />` },
            { label: 'Connection', value: (d) => d.connectionState ?? '—' },
            { label: 'Updated', value: (d) => html`<${When} at=${d.lastUpdatedDateTimeUtc} />` },
          ]}
        />`}
    <//>
  <//>`;
}

export function Devices({ ctx }) {
  const [, hub, id] = ctx.route;
  return hub && id
    ? html`<${DeviceDetail} ctx=${ctx} hub=${hub} id=${id} key=${`${hub}/${id}`} />`
    : html`<${DeviceList} ctx=${ctx} />`;
}

export function Things({ ctx }) {
  const load = useLoad(() => listAll(scoped(ctx.scope, '/iot/things')), [ctx.scope]);
  return html`<${Page} title="Things">
    <${Loaded} load=${load}>
      ${({ items }) =>
        html`<${Table}
          caption="Things"
          rows=${items}
          rowKey=${(t) => t.thingName}
          empty="No thing yet: JITP makes them on a device's first connection."
          columns=${[
            { label: 'Name', value: (t) => t.thingName },
            { label: 'Type', value: (t) => t.thingTypeName ?? '—' },
            {
              label: 'Attributes',
              value: (t) =>
                Object.entries(t.attributes ?? {})
                  .map(([k, v]) => `${k}=${v}`)
                  .join(', ') || '—',
            },
            { label: 'Groups', value: (t) => (t.thingGroups ?? []).join(', ') || '—' },
            { label: 'Made by', value: (t) => t.createdBy ?? '—' },
            { label: 'Created', value: (t) => html`<${When} at=${t.createdAt} />` },
          ]}
        />`}
    <//>
  <//>`;
}
