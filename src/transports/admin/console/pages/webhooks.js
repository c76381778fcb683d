// Event webhooks of the scope and the delivery state of each message (from the store's outbox).
import { useState } from 'preact/hooks';
import { call, get, query, scoped } from '../api.js';
import {
  Badge,
  confirmed,
  ErrorBox,
  html,
  Loaded,
  Notice,
  Page,
  Table,
  Text,
  useAction,
  useLoad,
  When,
} from '../ui.js';

export function Webhooks({ ctx }) {
  const load = useLoad(
    () =>
      Promise.all([
        get(scoped(ctx.scope, '/iot/settings')),
        get(scoped(ctx.scope, `/iot/webhook-deliveries${query({ max: 500 })}`)),
      ]),
    [ctx.scope],
  );
  const [url, setUrl] = useState('');
  const [secret, setSecret] = useState('');
  const action = useAction();
  // Secrets come back masked; sending the mask back keeps each stored secret.
  const save = (hooks, message) =>
    action.run(async () => {
      await call('PATCH', scoped(ctx.scope, '/iot/settings'), { eventWebhooks: hooks });
      load.reload();
      return message;
    });
  return html`<${Page} title="Webhooks">
    <${Loaded} load=${load}>
      ${([settings, deliveries]) => html`
        <h2>Receivers</h2>
        <${Table}
          caption="Webhook receivers"
          rows=${settings.eventWebhooks}
          rowKey=${(w) => w.url}
          empty="No webhook: events are kept in the audit trail and the event stream only."
          columns=${[
            { label: 'URL', value: (w) => html`<code class="wrap">${w.url}</code>` },
            { label: 'Signed', value: (w) => (w.secret ? 'HMAC-SHA256' : 'no') },
            ...(ctx.canWrite
              ? [
                  {
                    label: 'Actions',
                    value: (w) =>
                      html`<button
                        type="button"
                        class="danger"
                        aria-label=${`Remove ${w.url}`}
                        onClick=${() =>
                          confirmed(`Stop sending events to ${w.url}?`) &&
                          save(
                            settings.eventWebhooks.filter((o) => o.url !== w.url),
                            `Removed ${w.url}.`,
                          )}
                      >
                        Remove
                      </button>`,
                  },
                ]
              : []),
          ]}
        />
        ${
          ctx.canWrite
            ? html`<form
                class="card"
                onSubmit=${(e) => {
                  e.preventDefault();
                  save(
                    [...settings.eventWebhooks, { url: url.trim(), ...(secret ? { secret } : {}) }],
                    `Added ${url.trim()}.`,
                  );
                  setUrl('');
                  setSecret('');
                }}
              >
                <h2>Add a receiver</h2>
                <${Text}
                  label="URL"
                  type="url"
                  value=${url}
                  onInput=${setUrl}
                  required
                  hint="The receiver's HTTPS address, e.g. https://ops.example.com/zerotouch"
                />
                <${Text}
                  label="Signing secret (16 or more characters)"
                  type="password"
                  value=${secret}
                  onInput=${setSecret}
                />
                <button type="submit" class="primary" disabled=${action.busy}>Add</button>
              </form>`
            : null
        }
        <${ErrorBox} error=${action.error} />
        <${Notice}>${action.done}<//>
        <h2>Deliveries</h2>
        <${Table}
          caption="Webhook deliveries, newest first"
          rows=${deliveries}
          rowKey=${(d) => d.id}
          empty="Nothing sent yet."
          columns=${[
            { label: 'Event', value: (d) => d.kind },
            { label: 'To', value: (d) => html`<code class="wrap">${d.target}</code>` },
            {
              label: 'State',
              value: (d) =>
                html`<${Badge} value=${d.deliveredAt ? 'delivered' : d.attempts ? 'retrying' : 'pending'} />`,
            },
            { label: 'Attempts', value: (d) => String(d.attempts) },
            { label: 'Last error', value: (d) => d.lastError ?? '—' },
            {
              label: 'Next attempt',
              value: (d) => (d.deliveredAt ? '—' : html`<${When} at=${d.nextAttemptAt} />`),
            },
            { label: 'Created', value: (d) => html`<${When} at=${d.createdAt} />` },
          ]}
        />
      `}
    <//>
  <//>`;
}
