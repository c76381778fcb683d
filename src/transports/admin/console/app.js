// The console shell: signing in with an API token, the scope picker, navigation by URL hash, and
// the page for the current address. Pages get the signed-in principal's rights and hide writes
// the token may not make.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, session } from './api.js';
import { ErrorBox, html, Text, useAction } from './ui.js';
import { PAGES, pageFor } from './pages/index.js';

/** The current hash route as segments: #/s/<scope>/<page>/<id...>. */
function useRoute() {
  const read = () => (location.hash.replace(/^#\/?/, '') || '').split('/').map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

function SignIn({ onSignedIn }) {
  const [token, setToken] = useState('');
  const action = useAction();
  const submit = (e) => {
    e.preventDefault();
    action.run(async () => {
      session.set(token.trim());
      try {
        onSignedIn(await get('/v1/token'));
      } catch (err) {
        session.clear();
        throw err;
      }
    });
  };
  return html`<main id="main" class="signin">
    <h1>zerotouch console</h1>
    <form onSubmit=${submit}>
      <${Text}
        label="API token"
        type="password"
        value=${token}
        onInput=${setToken}
        required
        hint="zt_… from zerotouch token create, or the server's <data_dir>/admin-token. Kept in this tab only."
      />
      <${ErrorBox} error=${action.error} />
      <button type="submit" class="primary" disabled=${action.busy}>Sign in</button>
    </form>
  </main>`;
}

function Shell({ me, onSignOut }) {
  const route = useRoute();
  const [tenants, setTenants] = useState(null);
  const [error, setError] = useState(null);
  const reloadTenants = () => get('/v1/tenants').then(setTenants, setError);
  useEffect(reloadTenants, []);
  // The scope of the address; on pages outside a scope (ID scopes), the last one stays in the navigation.
  const inScope = route[0] === 's' ? route[1] : undefined;
  const [lastScope, setLastScope] = useState(undefined);
  useEffect(() => void (inScope && setLastScope(inScope)), [inScope]);
  const scope = inScope ?? lastScope;
  // Without a scope in the address, go to the token's own scope, or the first one.
  useEffect(() => {
    if (!tenants || inScope || route[0] === 'scopes') return;
    const first = me.tenant ?? tenants[0]?.idScope;
    location.hash = first ? `#/s/${first}/dashboard` : '#/scopes';
  }, [tenants, inScope, route[0]]);
  const ctx = {
    me,
    scope,
    route: inScope ? route.slice(2) : route.slice(1),
    canWrite: me.scopes.includes('write') || me.scopes.includes('admin'),
    isAdmin: me.scopes.includes('admin') && me.tenant === null,
    tenants: tenants ?? [],
    reloadTenants,
  };
  const Current = pageFor(route[0] === 's' ? route[2] : route[0]);
  return html`<div class="shell">
    <a
      class="skip"
      href="#main"
      onClick=${(e) => {
        e.preventDefault();
        document.getElementById('page-title')?.focus();
      }}
      >Skip to content</a
    >
    <header class="top">
      <a class="brand" href="#/scopes">zerotouch</a>
      ${
        tenants && tenants.length
          ? html`<label class="scope-pick">
              <span>ID scope</span>
              <select
                onChange=${(e) => (location.hash = `#/s/${e.currentTarget.value}/${route[2] || 'dashboard'}`)}
              >
                ${!scope ? html`<option value="">choose…</option>` : null}
                ${tenants.map(
                  (t) =>
                    html`<option value=${t.idScope} selected=${t.idScope === scope}>
                      ${t.name} (${t.idScope})
                    </option>`,
                )}
              </select>
            </label>`
          : null
      }
      <span class="who">${me.name}${ctx.canWrite ? '' : ' (read-only)'}</span>
      <button type="button" onClick=${onSignOut}>Sign out</button>
    </header>
    <nav aria-label="Console">
      <ul>
        <li><a href="#/scopes" aria-current=${route[0] === 'scopes' ? 'page' : undefined}>ID scopes</a></li>
        ${
          scope
            ? PAGES.map(
                (p) =>
                  html`<li>
                    <a
                      href=${`#/s/${scope}/${p.path}`}
                      aria-current=${route[2] === p.path ? 'page' : undefined}
                      >${p.title}</a
                    >
                  </li>`,
              )
            : null
        }
      </ul>
    </nav>
    <main id="main">
      <${ErrorBox} error=${error} />
      ${route[0] === 'scopes' || inScope ? html`<${Current} ctx=${ctx} key=${`${inScope}/${route[2]}`} />` : null}
    </main>
  </div>`;
}

function App() {
  const [me, setMe] = useState(undefined);
  useEffect(() => {
    if (!session.token) return setMe(null);
    get('/v1/token').then(setMe, () => {
      session.clear();
      setMe(null);
    });
    const out = () => {
      session.clear();
      setMe(null);
    };
    window.addEventListener('zt-signed-out', out);
    return () => window.removeEventListener('zt-signed-out', out);
  }, []);
  if (me === undefined) return html`<p aria-busy="true">Loading…</p>`;
  if (me === null) return html`<${SignIn} onSignedIn=${setMe} />`;
  return html`<${Shell}
    me=${me}
    onSignOut=${() => {
      session.clear();
      setMe(null);
      location.hash = '';
    }}
  />`;
}

render(html`<${App} />`, document.getElementById('app'));
