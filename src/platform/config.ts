import { parseArgs } from 'node:util';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** The whole configuration of a Slipway process; every setting has a flag and an environment variable. */
export const ConfigSchema = Type.Object({
  listen: Type.String({ default: '0.0.0.0:5000', description: 'HOST:PORT to listen on' }),
  dataDir: Type.String({
    default: './data',
    description: 'directory for the SQLite database, blobs and keys',
  }),
  databaseUrl: Type.Optional(
    Type.String({ description: 'postgres://... for PostgreSQL; default: SQLite file in the data directory' }),
  ),
  publicUrl: Type.Optional(
    Type.String({ description: 'external base URL (token realm); default: derived from the request Host' }),
  ),
  adminPassword: Type.Optional(Type.String({ description: 'password of the first superuser "admin"' })),
  createAdmin: Type.Boolean({
    default: true,
    description: 'create the superuser "admin" on an empty database',
  }),
  secretKey: Type.Optional(
    Type.String({
      description:
        'master key (32+ chars) encrypting secrets at rest; default: key file in the data directory',
    }),
  ),
  tokenService: Type.String({
    default: 'slipway',
    description: 'registry token service name (JWT audience)',
  }),
  tokenTtlSeconds: Type.Integer({ default: 900, minimum: 60 }),
  uploadTtlSeconds: Type.Integer({
    default: 86400,
    minimum: 60,
    description: 'idle upload sessions expire after this',
  }),
  gcIntervalSeconds: Type.Integer({ default: 3600, minimum: 0, description: '0 disables the periodic gc' }),
  gcGraceSeconds: Type.Integer({
    default: 3600,
    minimum: 0,
    description: 'unreferenced blobs younger than this are kept',
  }),
  maxManifestBytes: Type.Integer({ default: 4 * 1024 * 1024, minimum: 1024 }),
  logLevel: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  outboundAllow: Type.String({
    default: '',
    description:
      'CIDRs (comma-separated) that webhooks and callbacks may reach although loopback, private or link-local',
  }),
  smtpUrl: Type.Optional(
    Type.String({ description: 'smtp://user:pass@host:port (smtps:// for TLS) for e-mail notifications' }),
  ),
  smtpFrom: Type.String({ default: 'slipway@localhost', description: 'sender of notification e-mails' }),
  logMaxBytesPerStep: Type.Integer({
    default: 16 * 1024 * 1024,
    minimum: 1024,
    description: 'bytes of output kept per pipeline step; the rest is dropped and counted',
  }),
  runsMaxJobs: Type.Integer({
    default: 4,
    minimum: 1,
    description: 'pipeline jobs this server runs at once',
  }),
  runsLeaseSeconds: Type.Integer({
    default: 30,
    minimum: 1,
    maximum: 3600,
    description: "lease of a running pipeline job; a dead server's jobs are recovered after it",
  }),
  buildArchiveMaxBytes: Type.Integer({
    default: 1024 * 1024 * 1024,
    minimum: 1,
    description: 'largest build archive (Quay archive_url download or filedrop upload) in bytes',
  }),
});
export type Config = Static<typeof ConfigSchema>;

/** flag name → config key → environment variable */
const settings: Array<[flag: string, key: keyof Config, env: string]> = [
  ['listen', 'listen', 'SLIPWAY_LISTEN'],
  ['data', 'dataDir', 'SLIPWAY_DATA'],
  ['database-url', 'databaseUrl', 'SLIPWAY_DATABASE_URL'],
  ['public-url', 'publicUrl', 'SLIPWAY_PUBLIC_URL'],
  ['admin-password', 'adminPassword', 'SLIPWAY_ADMIN_PASSWORD'],
  ['create-admin', 'createAdmin', 'SLIPWAY_CREATE_ADMIN'],
  ['secret-key', 'secretKey', 'SLIPWAY_SECRET_KEY'],
  ['token-service', 'tokenService', 'SLIPWAY_TOKEN_SERVICE'],
  ['token-ttl', 'tokenTtlSeconds', 'SLIPWAY_TOKEN_TTL'],
  ['upload-ttl', 'uploadTtlSeconds', 'SLIPWAY_UPLOAD_TTL'],
  ['gc-interval', 'gcIntervalSeconds', 'SLIPWAY_GC_INTERVAL'],
  ['gc-grace', 'gcGraceSeconds', 'SLIPWAY_GC_GRACE'],
  ['max-manifest-bytes', 'maxManifestBytes', 'SLIPWAY_MAX_MANIFEST_BYTES'],
  ['log-level', 'logLevel', 'SLIPWAY_LOG_LEVEL'],
  ['outbound-allow', 'outboundAllow', 'SLIPWAY_OUTBOUND_ALLOW'],
  ['smtp-url', 'smtpUrl', 'SLIPWAY_SMTP_URL'],
  ['smtp-from', 'smtpFrom', 'SLIPWAY_SMTP_FROM'],
  ['log-max-bytes', 'logMaxBytesPerStep', 'SLIPWAY_LOG_MAX_BYTES'],
  ['runs-max-jobs', 'runsMaxJobs', 'SLIPWAY_RUNS_MAX_JOBS'],
  ['runs-lease', 'runsLeaseSeconds', 'SLIPWAY_RUNS_LEASE_SECONDS'],
  ['build-archive-max-bytes', 'buildArchiveMaxBytes', 'SLIPWAY_BUILD_ARCHIVE_MAX_BYTES'],
];

export const configHelp = settings
  .map(
    ([flag, key, env]) =>
      `  --${flag.padEnd(20)} ${env.padEnd(28)} ${ConfigSchema.properties[key].description ?? ''}`,
  )
  .join('\n');

/**
 * Builds the configuration from defaults, then the environment, then flags.
 * Throws an Error naming every invalid setting.
 */
export function loadConfig(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Config> = {},
): { config: Config; positionals: string[] } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: Object.fromEntries(settings.map(([flag]) => [flag, { type: 'string' as const }])),
  });
  const raw: Record<string, unknown> = {};
  for (const [flag, key, envName] of settings) {
    const value = values[flag] ?? env[envName];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const merged = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, { ...raw, ...overrides }));
  const errors = [...Value.Errors(ConfigSchema, merged)];
  if (errors.length > 0) {
    throw new Error(
      `invalid configuration: ${errors.map((e) => `${e.path.slice(1) || '(root)'}: ${e.message}`).join('; ')}`,
    );
  }
  const config = merged as Config;
  config.dataDir = path.resolve(config.dataDir);
  return { config, positionals };
}

export function parseListen(listen: string): { host: string; port: number } {
  const idx = listen.lastIndexOf(':');
  const host = idx > 0 ? listen.slice(0, idx).replace(/^\[|\]$/g, '') : '0.0.0.0';
  const port = Number(idx >= 0 ? listen.slice(idx + 1) : listen);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`invalid listen address: ${listen}`);
  return { host, port };
}
