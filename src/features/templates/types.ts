/**
 * Provisioning templates in the AWS IoT shape (a small CloudFormation-like JSON document), as a
 * TypeBox schema for their outline, and the plan a template yields for one certificate.
 */
import Type, { type Static } from 'typebox';

export const RESOURCE_TYPES = ['AWS::IoT::Thing', 'AWS::IoT::Certificate', 'AWS::IoT::Policy'] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

/** What the template is for: JITP takes its parameters from the device certificate only. */
export type TemplateKind = 'JITP' | 'FLEET_PROVISIONING';

/** Longest template body AWS accepts (MODEL templateBody), kept so templates port both ways. */
export const MAX_TEMPLATE_CHARS = 10_240;

const ParameterSchema = Type.Object(
  {
    Type: Type.Enum(['String', 'Number', 'CommaDelimitedList']),
    Default: Type.Optional(Type.Union([Type.String(), Type.Number()])),
    Description: Type.Optional(Type.String()),
    AllowedValues: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
  },
  { additionalProperties: false },
);

const ResourceSchema = Type.Object(
  {
    Type: Type.Enum([...RESOURCE_TYPES]),
    Properties: Type.Record(Type.String(), Type.Unknown()),
    OverrideSettings: Type.Optional(Type.Record(Type.String(), Type.String())),
    Condition: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

const NAME = '^[A-Za-z0-9:_.-]{1,128}$';

/** The outline of a template; what its values mean is checked by parseTemplate. */
export const TemplateSchema = Type.Object(
  {
    AWSTemplateFormatVersion: Type.Optional(Type.String()),
    Description: Type.Optional(Type.String()),
    Parameters: Type.Optional(Type.Record(Type.String({ pattern: NAME }), ParameterSchema)),
    Mappings: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Record(
          Type.String(),
          Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())])),
        ),
      ),
    ),
    Conditions: Type.Optional(Type.Record(Type.String({ pattern: NAME }), Type.Unknown())),
    Resources: Type.Record(Type.String({ pattern: NAME }), ResourceSchema, { minProperties: 1 }),
    DeviceConfiguration: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type Template = Static<typeof TemplateSchema>;

/** What to do with a resource (or one of its properties) that already exists. */
export type Override = 'DO_NOTHING' | 'REPLACE' | 'FAIL' | 'MERGE';

/** The thing a template creates or updates. */
export interface ThingPlan {
  logicalName: string;
  name: string;
  attributes: Record<string, string>;
  thingType?: string;
  groups: string[];
  billingGroup?: string;
  overrides: { attributes: Override; thingType: Override; groups: Override };
}

/** The certificate a template registers. */
export interface CertificatePlan {
  logicalName: string;
  /** SHA-256 hex of the DER (JITP and fleet templates name the certificate this way). */
  id?: string;
  csr?: string;
  pem?: string;
  caPem?: string;
  status: 'ACTIVE' | 'INACTIVE';
  statusOverride: Override;
}

/** A policy a template attaches: an existing one by name, or a document (named by its hash when unnamed). */
export interface PolicyPlan {
  logicalName: string;
  name: string;
  /** The document, when the template gives one. */
  document?: Record<string, unknown>;
}

/** What a template yields for one set of parameters, in the order AWS applies it. */
export interface ProvisioningPlan {
  parameters: Record<string, string>;
  thing?: ThingPlan;
  certificate?: CertificatePlan;
  policies: PolicyPlan[];
}
