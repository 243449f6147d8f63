/** A fresh database per test file, cloned from the migrated template. */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';
import { withDb } from '../global-setup.js';

export interface TestDb {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDb(): Promise<TestDb> {
  const server = inject('pgServerUrl');
  const template = inject('templateDb');
  const name = `sa_t_${template.replace('sa_tpl_', '')}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(withDb(server, 'postgres'), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  return {
    url: withDb(server, name),
    name,
    drop: async () => {
      const a = postgres(withDb(server, 'postgres'), { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}

/** The tables of this database in which some row's text holds `needle` (as a dump of it would). */
export async function tablesHolding(sql: postgres.Sql, needle: string): Promise<string[]> {
  const tables = await sql<{ schema: string; name: string }[]>`
    select table_schema as schema, table_name as name from information_schema.tables
    where table_schema in ('public', 'graphile_worker') and table_type = 'BASE TABLE' order by 1, 2`;
  const holding: string[] = [];
  for (const t of tables) {
    const [row] = await sql.unsafe(`select exists (select 1 from "${t.schema}"."${t.name}" x where x::text like '%' || $1 || '%') as hit`, [needle]);
    if (row?.hit) holding.push(`${t.schema}.${t.name}`);
  }
  return holding;
}
