/**
 * Once per test run: a Postgres server (DATABASE_URL, or an embedded one in a
 * temp folder) and a template database migrated with the real migrations.
 * Each test file clones the template (tests/helpers/db.ts).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/db/embedded.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { createLogger } from '../src/logger.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgServerUrl: string;
    templateDb: string;
  }
}

export default async function setup(project: TestProject) {
  const logger = createLogger('warn', { component: 'test-setup' });
  let embedded: EmbeddedDatabase | undefined;
  let dataDir: string | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sales-agent-test-pg-'));
    embedded = await startEmbeddedPostgres(dataDir, logger);
    serverUrl = embedded.url;
  }
  const template = `sa_tpl_${process.pid}`;
  const admin = postgres(withDb(serverUrl, 'postgres'), { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${template}`);
  await admin.unsafe(`create database ${template}`);
  await migrateDatabase(withDb(serverUrl, template), logger);
  project.provide('pgServerUrl', serverUrl);
  project.provide('templateDb', template);

  return async () => {
    // Drop leftovers of crashed files too: every clone of this run's template.
    const rows = await admin`select datname from pg_database where datname like ${`sa_t_${process.pid}_%`} or datname = ${template}`;
    for (const r of rows) await admin.unsafe(`drop database if exists ${r.datname} with (force)`);
    await admin.end();
    await embedded?.stop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  };
}

export function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}
