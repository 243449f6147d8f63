import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { connect, postgresTarget } from '../../src/db/client.js';

describe('postgresTarget', () => {
  it('takes a Unix-socket directory out of a libpq-style URL for postgres.js', () => {
    expect(postgresTarget('postgres://app:pw@localhost:5432/sales?host=/var/run/postgresql&sslmode=disable')).toEqual({
      url: 'postgres://app:pw@localhost:5432/sales?sslmode=disable',
      host: '/var/run/postgresql',
    });
  });

  it('leaves other URLs alone', () => {
    expect(postgresTarget('postgres://app@db.internal:5432/sales?sslmode=require')).toEqual({ url: 'postgres://app@db.internal:5432/sales?sslmode=require' });
    expect(postgresTarget('not a url')).toEqual({ url: 'not a url' });
  });

  // The machine's PostgreSQL listens on its socket too; elsewhere there is nothing to connect to.
  it.skipIf(!existsSync('/var/run/postgresql/.s.PGSQL.5432'))('connects over the socket a ?host= URL names', async () => {
    const db = connect('postgres://postgres@localhost:5432/postgres?host=/var/run/postgresql', { max: 1 });
    try {
      const [row] = await db.sql<{ tcp: string | null }[]>`select inet_server_addr()::text as tcp`;
      expect(row!.tcp).toBeNull(); // a Unix-socket connection has no server address
    } finally {
      await db.close();
    }
  });
});
