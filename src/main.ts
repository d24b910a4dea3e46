#!/usr/bin/env node
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from './app.js';
import { FsBlobStore } from './platform/blobs/fs-blob-store.js';
import { systemClock } from './platform/clock.js';
import { configHelp, loadConfig, parseListen, type Config } from './platform/config.js';
import { openDatabase } from './platform/db/database.js';
import { SecretBox } from './platform/secrets.js';
import { migrations, type Tables } from './services.js';
import { runPipelineFile } from './runs/local-run.js';

const usage = `usage: slipway <command> [flags]

commands:
  serve            start the server (default)
  gc [--dry-run]   remove unreferenced blobs and expired uploads, then exit
  run FILE [--branch B] [--event E] [--tag T] [--workspace DIR]
                   run a pipeline file (.slipway.yml or .rancher-pipeline.yml) on this machine, in the
                   working directory, without a server; exit code 0 when the run succeeds

flags and environment:
${configHelp}
`;

async function openInfrastructure(config: Config) {
  const url = config.databaseUrl ?? path.join(config.dataDir, 'slipway.db');
  const database = await openDatabase<Tables>(url, migrations);
  const blobStore = await new FsBlobStore(config.dataDir).init();
  const secrets = config.secretKey
    ? SecretBox.fromPassphrase(config.secretKey)
    : await SecretBox.fromDataDir(config.dataDir);
  return { database, infra: { config, db: database.db, blobStore, secrets, clock: systemClock } };
}

const notificationIntervalMs = 2000;
/** Cron ticks fire at most this late. */
const cronIntervalMs = 5000;

async function serve(config: Config): Promise<void> {
  const { database, infra } = await openInfrastructure(config);
  const { app, services } = await buildApp(infra);

  if (config.createAdmin) {
    const admin = await services.identity.ensureAdmin(config.adminPassword);
    if (admin.generatedPassword) {
      // Printed once, on the console only: it is stored nowhere but as an argon2id hash.
      process.stdout.write(
        `\nslipway: created superuser "admin" with password: ${admin.generatedPassword}\n\n`,
      );
    } else if (admin.created) {
      app.log.info('created superuser admin with the configured password');
    }
  }

  let gcTimer: NodeJS.Timeout | undefined;
  if (config.gcIntervalSeconds > 0) {
    gcTimer = setInterval(() => {
      services.gc.collect().then(
        (report) => app.log.info({ report }, 'garbage collection finished'),
        (err: unknown) => app.log.error({ err }, 'garbage collection failed'),
      );
    }, config.gcIntervalSeconds * 1000);
    gcTimer.unref();
  }

  // Notification deliveries are queued in the database; this worker sends what is due.
  const notificationTimer = setInterval(() => {
    services.notifications
      .drain()
      .catch((err: unknown) => app.log.error({ err }, 'notification delivery round failed'));
  }, notificationIntervalMs);
  notificationTimer.unref();

  await services.runScheduler.start();
  // Every replica ticks; each cron tick starts one run however many replicas see it (stopped by app.close).
  services.cronTriggers.start(cronIntervalMs);

  const stopMirrors = services.mirror.startWorker({
    onError: (err: unknown) => app.log.error({ err }, 'repository mirror sync failed'),
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    clearInterval(gcTimer);
    stopMirrors();
    clearInterval(notificationTimer);
    await services.runScheduler.stop();
    await app.close();
    await database.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  const { host, port } = parseListen(config.listen);
  await app.listen({ host, port });
  const address = app.server.address();
  // Port 0: steps learn the registry's port once it is known.
  if (port === 0 && typeof address === 'object' && address) {
    services.runScheduler.setRegistry(`127.0.0.1:${address.port}`);
  }
}

async function gc(config: Config, dryRun: boolean): Promise<void> {
  const { database, infra } = await openInfrastructure(config);
  const { services } = await buildApp({ ...infra, config: { ...config, logLevel: 'silent' } });
  const report = await services.gc.collect({ dryRun });
  process.stdout.write(JSON.stringify({ dryRun, ...report }) + '\n');
  await database.close();
}

/** `slipway run FILE`: the exit code is 0 when the run succeeded, 1 otherwise; Ctrl-C cancels the run. */
async function runFile(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      branch: { type: 'string' },
      event: { type: 'string' },
      tag: { type: 'string' },
      workspace: { type: 'string' },
    },
  });
  const file = positionals[0];
  if (file === undefined || positionals.length > 1)
    throw new Error(`usage: slipway run FILE [flags]\n\n${usage}`);
  const interrupt = new AbortController();
  process.once('SIGINT', () => interrupt.abort());
  process.once('SIGTERM', () => interrupt.abort());
  const { success } = await runPipelineFile({
    file,
    ...values,
    out: process.stdout,
    signal: interrupt.signal,
  });
  process.exitCode = success ? 0 : 1;
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'run') return runFile(argv.slice(1));
  const dryRun = argv.includes('--dry-run');
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage);
    return;
  }
  const { config, positionals } = loadConfig(argv.filter((a) => a !== '--dry-run'));
  const command = positionals[0] ?? 'serve';
  if (command === 'serve') return serve(config);
  if (command === 'gc') return gc(config, dryRun);
  throw new Error(`unknown command ${command}\n\n${usage}`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`slipway: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
