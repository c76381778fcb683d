// CA certificates of a scope: upload, proof of possession (verification code, openssl command,
// verification certificate), delete.
import { useState } from 'preact/hooks';
import { call, get, scoped, seg } from '../api.js';
import {
  Badge,
  confirmed,
  CopyBlock,
  ErrorBox,
  html,
  Loaded,
  Notice,
  Page,
  PemInput,
  Table,
  Text,
  useAction,
  useLoad,
  When,
} from '../ui.js';

/** The commands that make a verification certificate for `code` with the CA's key. */
export function verificationCommands(code, ca) {
  return [
    `openssl req -new -newkey rsa:2048 -nodes -keyout verification.key -out verification.csr -subj "/CN=${code}"`,
    `openssl x509 -req -in verification.csr -CA ${ca}.pem -CAkey ${ca}.key -CAcreateserial -out verification.pem -days 30 -sha256`,
  ].join('\n');
}

function Verify({ ctx, ca, onChange }) {
  const [pem, setPem] = useState('');
  const action = useAction();
  const base = scoped(ctx.scope, `/cas/${seg(ca.name)}`);
  if (ca.isVerified) return html`<p><${Badge} value="verified" /> Proof of possession is done.</p>`;
  return html`<div class="card">
    <h2>Verify ${ca.name}</h2>
    <p>
      Prove you hold the CA's private key: get a code, sign a certificate whose CN is the code, upload it.
    </p>
    ${
      ctx.canWrite
        ? html`<button
            type="button"
            disabled=${action.busy}
            onClick=${() => action.run(async () => onChange((await call('POST', `${base}/verification-code`)).data))}
          >
            ${ca.verificationCode ? 'New verification code' : 'Generate verification code'}
          </button>`
        : null
    }
    ${
      ca.verificationCode
        ? html`<p>
              Verification code <code class="code">${ca.verificationCode}</code>, valid until${' '}
              <${When} at=${ca.verificationCodeExpiresUtc} />.
            </p>
            <${CopyBlock}
              label="openssl commands"
              text=${verificationCommands(ca.verificationCode, ca.name)}
            />
            <${CopyBlock}
              label="or with the zerotouch CLI"
              text=${`zerotouch pki verification-cert --code ${ca.verificationCode} --ca ${ca.name}.pem --ca-key ${ca.name}.key`}
            />
            ${
              ctx.canWrite
                ? html`<form
                    onSubmit=${(e) => {
                      e.preventDefault();
                      action.run(async () =>
                        onChange((await call('POST', `${base}/verify`, { certificate: pem })).data),
                      );
                    }}
                  >
                    <${PemInput} label="Verification certificate (PEM)" value=${pem} onInput=${setPem} />
                    <button type="submit" class="primary" disabled=${action.busy || !pem.trim()}>
                      Verify
                    </button>
                  </form>`
                : null
            }`
        : null
    }
    <${ErrorBox} error=${action.error} />
  </div>`;
}

function Detail({ ctx, name }) {
  const load = useLoad(() => get(scoped(ctx.scope, `/cas/${seg(name)}`)), [name]);
  const [ca, setCa] = useState(null);
  return html`<${Page} title=${`CA ${name}`} actions=${html`<a href=${`#/s/${ctx.scope}/cas`}>All CAs</a>`}>
    <${Loaded} load=${load}>
      ${(loaded) => {
        const c = ca ?? loaded;
        return html`<dl class="facts">
            <dt>Subject</dt>
            <dd>${c.subject}</dd>
            <dt>Verified</dt>
            <dd><${Badge} value=${c.isVerified ? 'verified' : 'unverified'} /></dd>
            <dt>Valid</dt>
            <dd><${When} at=${c.notBeforeUtc} /> to <${When} at=${c.notAfterUtc} /></dd>
            <dt>SHA-256</dt>
            <dd><code class="wrap">${c.sha256Thumbprint}</code></dd>
            <dt>JITP/JITR</dt>
            <dd>
              ${
                c.awsRegistration
                  ? html`${c.awsRegistration.status}, auto-registration ${c.awsRegistration.autoRegistration}
                    ${c.awsRegistration.registrationConfig ? ', with a template' : ', no template (JITR)'}`
                  : 'not registered'
              }
            </dd>
          </dl>
          <${Verify} ctx=${ctx} ca=${c} onChange=${setCa} />`;
      }}
    <//>
  <//>`;
}

export function Cas({ ctx }) {
  return ctx.route[1] ? html`<${Detail} ctx=${ctx} name=${ctx.route[1]} />` : html`<${CaList} ctx=${ctx} />`;
}

function CaList({ ctx }) {
  const load = useLoad(() => get(scoped(ctx.scope, '/cas')), [ctx.scope]);
  const [name, setName] = useState('');
  const [pem, setPem] = useState('');
  const action = useAction();
  const upload = (e) => {
    e.preventDefault();
    action.run(async () => {
      await call('POST', scoped(ctx.scope, '/cas'), { name: name.trim(), certificate: pem });
      location.hash = `#/s/${ctx.scope}/cas/${encodeURIComponent(name.trim())}`;
    });
  };
  const remove = (c) =>
    confirmed(`Delete CA ${c.name}? Devices it signed stop matching its enrollments.`) &&
    action.run(async () => {
      await call('DELETE', scoped(ctx.scope, `/cas/${seg(c.name)}`));
      load.reload();
      return `Deleted ${c.name}`;
    });
  return html`<${Page} title="CA certificates">
    <${Loaded} load=${load}>
      ${(cas) =>
        html`<${Table}
          caption="CA certificates"
          rows=${cas}
          rowKey=${(c) => c.name}
          empty="No CA yet: upload one below."
          columns=${[
            {
              label: 'Name',
              value: (c) =>
                html`<a href=${`#/s/${ctx.scope}/cas/${encodeURIComponent(c.name)}`}>${c.name}</a>`,
            },
            { label: 'Subject', value: (c) => c.subject },
            {
              label: 'Verified',
              value: (c) => html`<${Badge} value=${c.isVerified ? 'verified' : 'unverified'} />`,
            },
            { label: 'Expires', value: (c) => html`<${When} at=${c.notAfterUtc} />` },
            { label: 'JITP', value: (c) => (c.awsRegistration ? c.awsRegistration.status : '—') },
            ...(ctx.canWrite
              ? [
                  {
                    label: 'Actions',
                    value: (c) =>
                      html`<button
                        type="button"
                        class="danger"
                        aria-label=${`Delete CA ${c.name}`}
                        onClick=${() => remove(c)}
                      >
                        Delete
                      </button>`,
                  },
                ]
              : []),
          ]}
        />`}
    <//>
    ${
      ctx.canWrite
        ? html`<form class="card" onSubmit=${upload}>
            <h2>Upload a CA certificate</h2>
            <${Text}
              label="Name"
              value=${name}
              onInput=${setName}
              required
              pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{0,127}"
            />
            <${PemInput} label="CA certificate (PEM)" value=${pem} onInput=${setPem} />
            <button type="submit" class="primary" disabled=${action.busy}>Upload</button>
          </form>`
        : null
    }
    <${ErrorBox} error=${action.error} />
    <${Notice}>${action.done}<//>
  <//>`;
}
