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
