/**
 * Named provisioning templates of a scope (AWS CreateProvisioningTemplate): checked when saved,
 * so a CA's registration config can name one and a broken template never reaches a device.
 */
import { ZtError } from '../../errors.ts';
import { parseTemplate } from '../templates/template.ts';
import type { IotRegistry } from './registry.ts';
import type { IotStore } from './store.ts';
import type { ProvisioningTemplate } from './types.ts';

/** Manages named provisioning templates. */
export class ProvisioningTemplates {
  private readonly store: IotStore;
  private readonly registry: IotRegistry;

  constructor(store: IotStore, registry: IotRegistry) {
    this.store = store;
    this.registry = registry;
  }

  /** Creates a template; TEMPLATE_INVALID naming the JSON path, CONFLICT when the name exists. */
  async create(
    tenantId: string,
    name: string,
    o: {
      templateBody: string;
      type?: 'JITP' | 'FLEET_PROVISIONING';
      description?: string;
      enabled?: boolean;
    },
  ): Promise<ProvisioningTemplate> {
    if (!/^[0-9A-Za-z_-]{1,36}$/.test(name))
      throw new ZtError(
        'BAD_REQUEST',
        `the template name "${name}" is not valid: use 1-36 letters, digits, "_" or "-"`,
      );
    const type = o.type ?? 'FLEET_PROVISIONING';
    parseTemplate(o.templateBody, type);
    const now = new Date().toISOString();
    const t: ProvisioningTemplate = {
      templateName: name,
      templateArn: await this.registry.arn(tenantId, `provisioningtemplate/${name}`),
      type,
      ...(o.description ? { description: o.description } : {}),
      enabled: o.enabled ?? true,
      templateBody: o.templateBody,
      createdAt: now,
      lastModifiedAt: now,
    };
    if (!(await this.store.insertNamed(tenantId, 'template', name, t)))
      throw new ZtError('CONFLICT', `a provisioning template named "${name}" already exists in this scope`);
    return t;
  }

  /** The template, or NOT_FOUND. */
  async get(tenantId: string, name: string): Promise<ProvisioningTemplate> {
    const t = await this.store.findNamed<ProvisioningTemplate>(tenantId, 'template', name);
    if (!t) throw new ZtError('NOT_FOUND', `no provisioning template named "${name}" in this scope`);
    return t;
  }

  list(tenantId: string): Promise<ProvisioningTemplate[]> {
    return this.store.listNamed<ProvisioningTemplate>(tenantId, 'template');
  }

  /** Replaces the body (checked), description or enabled flag; the type never changes. */
  async update(
    tenantId: string,
    name: string,
    o: { templateBody?: string; description?: string; enabled?: boolean },
  ): Promise<ProvisioningTemplate> {
    const t = await this.get(tenantId, name);
    if (o.templateBody !== undefined) {
      parseTemplate(o.templateBody, t.type);
      t.templateBody = o.templateBody;
    }
    if (o.description !== undefined) t.description = o.description;
    if (o.enabled !== undefined) t.enabled = o.enabled;
    t.lastModifiedAt = new Date().toISOString();
    await this.store.updateNamed(tenantId, 'template', name, t);
    return t;
  }

  async delete(tenantId: string, name: string): Promise<void> {
    if (!(await this.store.deleteNamed(tenantId, 'template', name)))
      throw new ZtError('NOT_FOUND', `no provisioning template named "${name}" in this scope`);
  }
}
