// The console's pages, in the order the navigation lists them.
import { html, Page } from '../ui.js';
import { Audit } from './audit.js';
import { Cas } from './cas.js';
import { Certificates } from './certificates.js';
import { Dashboard } from './dashboard.js';
import { Devices, Things } from './devices.js';
import { Enrollments, Groups } from './enrollments.js';
import { Hubs } from './hubs.js';
import { Issuance } from './issuance.js';
import { Jitp } from './jitp.js';
import { Registrations } from './registrations.js';
import { Scopes } from './scopes.js';
import { Webhooks } from './webhooks.js';

export const PAGES = [
  { path: 'dashboard', title: 'Dashboard', component: Dashboard },
  { path: 'cas', title: 'CA certificates', component: Cas },
  { path: 'groups', title: 'Enrollment groups', component: Groups },
  { path: 'enrollments', title: 'Individual enrollments', component: Enrollments },
  { path: 'registrations', title: 'Registrations', component: Registrations },
  { path: 'devices', title: 'Devices', component: Devices },
  { path: 'certificates', title: 'Issued certificates', component: Certificates },
  { path: 'issuance', title: 'Issuing CAs and EST', component: Issuance },
  { path: 'jitp', title: 'JITP and JITR', component: Jitp },
  { path: 'things', title: 'Things', component: Things },
  { path: 'hubs', title: 'Hubs', component: Hubs },
  { path: 'webhooks', title: 'Webhooks', component: Webhooks },
  { path: 'audit', title: 'Audit trail', component: Audit },
];

function NotFound() {
  return html`<${Page} title="Not found"><p>There is no such page. Choose one from the navigation.</p><//>`;
}

/** The page component for a route segment. */
export function pageFor(path) {
  if (path === 'scopes') return Scopes;
  return PAGES.find((p) => p.path === path)?.component ?? NotFound;
}
