// Linked hubs: where devices are assigned, of which kind, and a reconcile of broker-backed hubs.
import { call, get, scoped, seg } from '../api.js';
import { ErrorBox, html, JsonView, Loaded, Notice, Page, Table, useAction, useLoad } from '../ui.js';

export function Hubs({ ctx }) {
  const load = useLoad(() => get(scoped(ctx.scope, '/hubs')), [ctx.scope]);
  const action = useAction();
  const reconcile = (h, dryRun) =>
    action.run(async () => {
      const { data } = await call('POST', scoped(ctx.scope, `/hubs/${seg(h.hostName)}/reconcile`), {
        dryRun,
      });
      return html`<span>Reconcile of ${h.hostName}${dryRun ? ' (dry run)' : ''}:</span
        ><${JsonView} value=${data} label="Reconcile report" />`;
    });
  return html`<${Page} title="Hubs">
    <${Loaded} load=${load}>
      ${(hubs) =>
        html`<${Table}
          caption="Linked hubs"
          rows=${hubs}
          rowKey=${(h) => h.hostName}
          empty="No hub linked: zerotouch hub link <host>."
          columns=${[
            { label: 'Host name', value: (h) => h.hostName },
            { label: 'Kind', value: (h) => h.kind ?? 'record' },
            { label: 'Region', value: (h) => h.region ?? '—' },
            { label: 'Weight', value: (h) => String(h.allocationWeight ?? 1) },
            { label: 'In allocation', value: (h) => (h.applyAllocationPolicy === false ? 'no' : 'yes') },
            ...(ctx.canWrite
              ? [
                  {
                    label: 'Actions',
                    value: (h) =>
                      h.kind === 'mosquitto'
                        ? html`<div class="row-actions">
                            <button type="button" onClick=${() => reconcile(h, true)}>Check drift</button>
                            <button type="button" onClick=${() => reconcile(h, false)}>Reconcile</button>
                          </div>`
                        : '—',
                  },
                ]
              : []),
          ]}
        />`}
    <//>
    <${ErrorBox} error=${action.error} />
    <${Notice}>${action.done}<//>
  <//>`;
}
