/**
 * Norman (Rancher's API framework) wire shapes: resources, collections and actions. Every /v3 route builds its
 * answers with these, so links and actions look the same everywhere.
 */
import type { FastifyRequest } from 'fastify';
import { NotFound } from '../../platform/errors.js';
import { baseUrlOf } from '../quay/plugin.js';

/** The API root of the request: `http://host/v3` (or the configured public URL's). */
export function apiRoot(request: FastifyRequest, publicUrl?: string): string {
  return `${baseUrlOf(request, publicUrl)}/v3`;
}

export interface NormanResource {
  id: string;
  type: string;
  baseType?: string;
  links: Record<string, string>;
  actions: Record<string, string>;
  [field: string]: unknown;
}

export interface NormanCollection<T = NormanResource> {
  type: 'collection';
  resourceType: string;
  links: Record<string, string>;
  actions: Record<string, string>;
  createTypes?: Record<string, string>;
  data: T[];
  pagination?: { limit?: number; total?: number; next?: string };
}

export interface ResourceOptions {
  /** Action names offered on this resource (each `POST <self>?action=<name>`). */
  actions?: readonly string[];
  /** May the caller update (PUT) / remove (DELETE) it: adds `links.update` / `links.remove`. */
  update?: boolean;
  remove?: boolean;
  /** Further links (absolute URLs). */
  links?: Record<string, string>;
  baseType?: string;
}

/** A resource `type` at `self` (its absolute URL) with `fields`. */
export function resource(
  type: string,
  self: string,
  fields: { id: string } & Record<string, unknown>,
  options: ResourceOptions = {},
): NormanResource {
  return {
    ...fields,
    type,
    baseType: options.baseType ?? type,
    links: {
      self,
      ...(options.update ? { update: self } : {}),
      ...(options.remove ? { remove: self } : {}),
      ...options.links,
    },
    actions: actionLinks(self, options.actions ?? []),
  };
}

/** A collection of `resourceType` at `self`; `createTypes` when the caller may create there. */
export function collection<T extends NormanResource>(
  resourceType: string,
  self: string,
  data: T[],
  options: {
    create?: boolean;
    actions?: readonly string[];
    pagination?: NormanCollection['pagination'];
  } = {},
): NormanCollection<T> {
  return {
    type: 'collection',
    resourceType,
    links: { self },
    actions: actionLinks(self, options.actions ?? []),
    ...(options.create ? { createTypes: { [resourceType]: self } } : {}),
    data,
    ...(options.pagination ? { pagination: options.pagination } : {}),
  };
}

function actionLinks(self: string, names: readonly string[]): Record<string, string> {
  const separator = self.includes('?') ? '&' : '?';
  return Object.fromEntries(
    names.map((name) => [name, `${self}${separator}action=${encodeURIComponent(name)}`]),
  );
}

/** The `?action=` of a request, if any. */
export function requestedAction(request: FastifyRequest): string | undefined {
  const action = (request.query as { action?: unknown } | undefined)?.action;
  return typeof action === 'string' && action !== '' ? action : undefined;
}

/** What Norman answers for an action the resource does not offer (404 ActionNotAvailable). */
export function actionNotAvailable(name: string | undefined): NotFound {
  return new NotFound('ActionNotAvailable', `action ${JSON.stringify(name ?? '')} is not available`);
}

/** Norman's timestamps: RFC 3339 in UTC; undefined for a time that has not come. */
export function normanTime(ms: number | undefined | null): string | undefined {
  return ms === undefined || ms === null ? undefined : new Date(ms).toISOString();
}

/** Drops undefined fields so answers carry only what is known. */
export function compact<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
