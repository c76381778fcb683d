/**
 * Versioned schema migrations, applied in name order by Kysely's Migrator. Each feature adds its
 * tables here with the next number; a migration, once released, is never edited.
 */
import { type ColumnDefinitionBuilder, type Kysely, PostgresAdapter, sql } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';
import { issuerKey, loadCertificate } from '../pki/certificate.ts';
import type { Database } from './schema.ts';

const migrations: Record<string, Migration> = {
  '0001_tenants_and_tokens': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('tenants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('id_scope', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.references('tenants.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('last_used_at', 'text')
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema.createIndex('api_tokens_tenant').on('api_tokens').column('tenant_id').execute();
    },
  },
  '0002_dps': {
    async up(db: Kysely<unknown>) {
      const tenantFk = (c: ColumnDefinitionBuilder) =>
        c.notNull().references('tenants.id').onDelete('cascade');
      await db.schema
        .createTable('ca_certificates')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('name_key', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('certificate', 'text', (c) => c.notNull())
        .addColumn('verified', 'integer', (c) => c.notNull())
        .addColumn('verification_code', 'text')
        .addColumn('code_expires_at', 'text')
        .addColumn('etag', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('ca_certificates_pk', ['tenant_id', 'name_key'])
        .addUniqueConstraint('ca_certificates_sha256', ['tenant_id', 'sha256'])
        .execute();
      await db.schema
        .createTable('linked_hubs')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('host_name', 'text', (c) => c.notNull())
        .addColumn('host_key', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('weight', 'integer', (c) => c.notNull())
        .addColumn('apply_allocation_policy', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('linked_hubs_pk', ['tenant_id', 'host_key'])
        .execute();
      await db.schema
        .createTable('enrollments')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('id_key', 'text', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .addColumn('signer1', 'text')
        .addColumn('signer2', 'text')
        .addColumn('ca_ref1', 'text')
        .addColumn('ca_ref2', 'text')
        .addColumn('etag', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('enrollments_pk', ['tenant_id', 'kind', 'id_key'])
        .execute();
      for (const col of ['signer1', 'signer2', 'ca_ref1', 'ca_ref2']) {
        await db.schema
          .createIndex(`enrollments_${col}`)
          .on('enrollments')
          .columns(['tenant_id', col])
          .execute();
      }
      await db.schema
        .createTable('registrations')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('id_key', 'text', (c) => c.notNull())
        .addColumn('operation_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('group_key', 'text')
        .addColumn('doc', 'text', (c) => c.notNull())
        .addColumn('etag', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('registrations_pk', ['tenant_id', 'id_key'])
        .execute();
      await db.schema
        .createIndex('registrations_group')
        .on('registrations')
        .columns(['tenant_id', 'group_key'])
        .execute();
      await db.schema
        .createTable('devices')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('hub_key', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .addColumn('etag', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('devices_pk', ['tenant_id', 'hub_key', 'device_id'])
        .execute();
      await db.schema
        .createTable('access_policies')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('key_name', 'text', (c) => c.notNull())
        .addColumn('primary_key', 'text', (c) => c.notNull())
        .addColumn('secondary_key', 'text', (c) => c.notNull())
        .addColumn('rights', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('access_policies_pk', ['tenant_id', 'key_name'])
        .execute();
    },
  },
  '0003_issuance_and_est': {
    async up(db: Kysely<unknown>) {
      const tenantFk = (c: ColumnDefinitionBuilder) =>
        c.notNull().references('tenants.id').onDelete('cascade');
      await db.schema
        .createTable('issuing_cas')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('name_key', 'text', (c) => c.notNull())
        .addColumn('certificate', 'text', (c) => c.notNull())
        .addColumn('chain', 'text', (c) => c.notNull())
        .addColumn('key_ref', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('crl_number', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('issuing_cas_pk', ['tenant_id', 'name_key'])
        .execute();
      await db.schema
        .createTable('cert_profiles')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('name_key', 'text', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('cert_profiles_pk', ['tenant_id', 'name_key'])
        .execute();
      await db.schema
        .createTable('issued_certificates')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('ca_key', 'text', (c) => c.notNull())
        .addColumn('serial', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('sans', 'text', (c) => c.notNull())
        .addColumn('sha1', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('not_before', 'text', (c) => c.notNull())
        .addColumn('not_after', 'text', (c) => c.notNull())
        .addColumn('profile', 'text', (c) => c.notNull())
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('requester', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .addColumn('revocation_reason', 'text')
        .addColumn('certificate', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('issued_certificates_pk', ['tenant_id', 'ca_key', 'serial'])
        .execute();
      await db.schema
        .createIndex('issued_certificates_sha256')
        .on('issued_certificates')
        .column('sha256')
        .execute();
      await db.schema
        .createIndex('issued_certificates_created')
        .on('issued_certificates')
        .columns(['tenant_id', 'created_at'])
        .execute();
      await db.schema
        .createTable('crls')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('ca_key', 'text', (c) => c.notNull())
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('next_update', 'text', (c) => c.notNull())
        .addColumn('der', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('crls_pk', ['tenant_id', 'ca_key'])
        .execute();
      await db.schema
        .createTable('est_labels')
        .addColumn('label_key', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('doc', 'text', (c) => c.notNull())
        .addColumn('is_default', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('est_users')
        .addColumn('label_key', 'text', (c) =>
          c.notNull().references('est_labels.label_key').onDelete('cascade'),
        )
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('est_users_pk', ['label_key', 'username'])
        .execute();
      await db.schema
        .createTable('est_pending')
        .addColumn('label_key', 'text', (c) =>
          c.notNull().references('est_labels.label_key').onDelete('cascade'),
        )
        .addColumn('key_hash', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('requester', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('decided_at', 'text')
        .addPrimaryKeyConstraint('est_pending_pk', ['label_key', 'key_hash'])
        .execute();
    },
  },
  '0004_revocation_by_issuer_and_serial': {
    // Revocation is looked up by issuer and serial, which re-encoding a signature cannot change
    // (a thumbprint can: ECDSA (r, s) and (r, n-s) both verify).
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('issued_certificates').addColumn('issuer_key', 'text').execute();
      const k = db as unknown as Kysely<Database>;
      const rows = await k
        .selectFrom('issued_certificates')
        .select(['tenant_id', 'ca_key', 'serial', 'certificate'])
        .execute();
      for (const r of rows) {
        await k
          .updateTable('issued_certificates')
          .set({ issuer_key: issuerKey(loadCertificate(r.certificate)) })
          .where('tenant_id', '=', r.tenant_id)
          .where('ca_key', '=', r.ca_key)
          .where('serial', '=', r.serial)
          .execute();
      }
      await db.schema
        .createIndex('issued_certificates_issuer_serial')
        .on('issued_certificates')
        .columns(['issuer_key', 'serial'])
        .execute();
      // Nothing looks certificates up by thumbprint any more; the index only cost every insert.
      await db.schema.dropIndex('issued_certificates_sha256').execute();
    },
  },
  '0005_one_default_est_label': {
    // Two labels made default at once could both stay default on PostgreSQL; the database now
    // holds the rule. Where a race already left several, the latest written keeps it.
    async up(db: Kysely<unknown>) {
      const k = db as unknown as Kysely<Database>;
      const latest = await k
        .selectFrom('est_labels')
        .select('label_key')
        .where('is_default', '=', 1)
        .orderBy('updated_at', 'desc')
        .orderBy('label_key')
        .executeTakeFirst();
      if (latest) {
        await k
          .updateTable('est_labels')
          .set({ is_default: 0 })
          .where('is_default', '=', 1)
          .where('label_key', '<>', latest.label_key)
          .execute();
      }
      await db.schema
        .createIndex('est_labels_one_default')
        .on('est_labels')
        .column('is_default')
        .unique()
        .where(sql.ref('is_default'), '=', 1)
        .execute();
    },
  },
  '0006_iot_registry': {
    // The AWS IoT-shaped registry (things, certificates, policies), CA registrations for
    // JITP/JITR on the existing CA records, and the webhook outbox.
    async up(db: Kysely<unknown>) {
      const tenantFk = (c: ColumnDefinitionBuilder) =>
        c.notNull().references('tenants.id').onDelete('cascade');
      await db.schema.alterTable('ca_certificates').addColumn('aws_doc', 'text').execute();
      await db.schema.alterTable('ca_certificates').addColumn('aws_default_key', 'text').execute();
      await db.schema.alterTable('ca_certificates').addColumn('aws_subject_key', 'text').execute();
      // A CA is registered in DEFAULT mode in one scope only (as in one AWS account per region).
      await db.schema
        .createIndex('ca_certificates_aws_default')
        .on('ca_certificates')
        .column('aws_default_key')
        .unique()
        .execute();
      await db.schema
        .createIndex('ca_certificates_aws_subject')
        .on('ca_certificates')
        .column('aws_subject_key')
        .execute();
      await db.schema
        .createTable('iot_settings')
        .addColumn('tenant_id', 'text', (c) => tenantFk(c).primaryKey())
        .addColumn('endpoint_key', 'text', (c) => c.unique())
        .addColumn('registration_code', 'text', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('iot_things')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('thing_type', 'text')
        .addColumn('doc', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('iot_things_pk', ['tenant_id', 'name'])
        .execute();
      await db.schema
        .createTable('iot_named')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('iot_named_pk', ['tenant_id', 'kind', 'name'])
        .execute();
      await db.schema
        .createTable('iot_certificates')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('tbs_sha256', 'text', (c) => c.notNull())
        .addColumn('ca_name', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('iot_certificates_pk', ['tenant_id', 'id'])
        .execute();
      await db.schema
        .createIndex('iot_certificates_tbs')
        .on('iot_certificates')
        .columns(['tenant_id', 'tbs_sha256'])
        .execute();
      await db.schema
        .createTable('iot_policies')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('iot_policies_pk', ['tenant_id', 'name'])
        .execute();
      await db.schema
        .createTable('iot_policy_targets')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('policy_name', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('iot_policy_targets_pk', ['tenant_id', 'policy_name', 'target'])
        .execute();
      await db.schema
        .createIndex('iot_policy_targets_target')
        .on('iot_policy_targets')
        .columns(['tenant_id', 'target'])
        .execute();
      await db.schema
        .createTable('iot_thing_principals')
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('thing_name', 'text', (c) => c.notNull())
        .addColumn('principal', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('iot_thing_principals_pk', ['tenant_id', 'thing_name', 'principal'])
        .execute();
      await db.schema
        .createIndex('iot_thing_principals_principal')
        .on('iot_thing_principals')
        .columns(['tenant_id', 'principal'])
        .execute();
      await db.schema
        .createTable('outbox')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', tenantFk)
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('delivered_at', 'text')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('outbox_due')
        .on('outbox')
        .columns(['delivered_at', 'next_attempt_at'])
        .execute();
    },
  },
  '0007_aws_access_keys': {
    // Access keys of the AWS IoT control-plane face; secrets encrypted, never stored in the clear.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('aws_access_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('rights', 'text', (c) => c.notNull())
        .addColumn('secret_enc', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'text')
        .execute();
      await db.schema
        .createIndex('aws_access_keys_tenant')
        .on('aws_access_keys')
        .column('tenant_id')
        .execute();
    },
  },
  '0008_hub_kinds': {
    // Hubs are only recorded (as before) or served by this server's gateway (builtin).
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('linked_hubs')
        .addColumn('kind', 'text', (c) => c.notNull().defaultTo('record'))
        .execute();
      await db.schema
        .createIndex('linked_hubs_host_kind')
        .on('linked_hubs')
        .columns(['host_key', 'kind'])
        .execute();
    },
  },
  '0009_external_hubs': {
    // Mosquitto and webhook hubs keep their settings; devices are found by certificate (revocation)
    // and by enrollment (an enrollment disabled or deleted) to keep external hubs in step.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('linked_hubs').addColumn('config', 'text').execute();
      await db.schema.alterTable('devices').addColumn('cert_sha256', 'text').execute();
      await db.schema.alterTable('devices').addColumn('enrollment_key', 'text').execute();
      const d = db as unknown as Kysely<Database>;
      const rows = await d
        .selectFrom('devices')
        .select(['tenant_id', 'hub_key', 'device_id', 'doc'])
        .execute();
      for (const r of rows) {
        const doc = JSON.parse(r.doc) as {
          certificate?: { sha256Thumbprint?: string };
          enrollment?: { kind: string; id: string };
        };
        await d
          .updateTable('devices')
          .set({
            cert_sha256: doc.certificate?.sha256Thumbprint ?? null,
            enrollment_key: doc.enrollment
              ? `${doc.enrollment.kind}:${doc.enrollment.id.toLowerCase()}`
              : null,
          })
          .where('tenant_id', '=', r.tenant_id)
          .where('hub_key', '=', r.hub_key)
          .where('device_id', '=', r.device_id)
          .execute();
      }
      await db.schema
        .createIndex('devices_cert')
        .on('devices')
        .columns(['tenant_id', 'cert_sha256'])
        .execute();
      await db.schema
        .createIndex('devices_enrollment')
        .on('devices')
        .columns(['tenant_id', 'enrollment_key'])
        .execute();
    },
  },
  '0010_audit': {
    // The append-only audit trail; seq orders it across nodes (the cursor of lists and streams).
    // No foreign key: the record of a deleted tenant stays.
    async up(db: Kysely<unknown>) {
      const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
      await db.schema
        .createTable('audit_events')
        .addColumn('seq', postgres ? 'bigserial' : 'integer', (c) =>
          postgres ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('tenant_id', 'text')
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor_kind', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text', (c) => c.notNull())
        .addColumn('actor_name', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('code', 'text')
        .addColumn('detail', 'text')
        .execute();
      await db.schema
        .createIndex('audit_tenant_seq')
        .on('audit_events')
        .columns(['tenant_id', 'seq'])
        .execute();
      await db.schema
        .createIndex('audit_tenant_target')
        .on('audit_events')
        .columns(['tenant_id', 'target', 'seq'])
        .execute();
      await db.schema.createIndex('audit_at').on('audit_events').column('at').execute();
    },
  },
  '0011_cluster': {
    // What several servers on one store share instead of memory: per-device leases that
    // serialise one device's registrations across nodes, and secrets every node reads (the key
    // that makes DPS operation IDs verifiable by any node).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('device_leases')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('cluster_secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0012_keyset_indexes': {
    // Lists page by the last key seen: each filter's index ends with the list's sort key, so a
    // page is one index range read, however deep.
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex('registrations_group').execute();
      await db.schema
        .createIndex('registrations_group_id')
        .on('registrations')
        .columns(['tenant_id', 'group_key', 'id_key'])
        .execute();
      await db.schema
        .createIndex('registrations_status_id')
        .on('registrations')
        .columns(['tenant_id', 'status', 'id_key'])
        .execute();
      await db.schema.dropIndex('issued_certificates_created').execute();
      await db.schema
        .createIndex('issued_certificates_created_serial')
        .on('issued_certificates')
        .columns(['tenant_id', 'created_at', 'serial'])
        .execute();
      await db.schema
        .createIndex('iot_certificates_created_id')
        .on('iot_certificates')
        .columns(['tenant_id', 'created_at', 'id'])
        .execute();
    },
  },
};

/** The migrations, for Kysely's Migrator. */
export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
