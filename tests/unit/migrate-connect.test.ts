/**
 * Start-up against a DATABASE_URL that is not Postgres: something that takes the connection and closes it (a web
 * server, a load balancer with no backend). postgres.js would reconnect for ever; migrateDatabase gives up, naming
 * where it looked and never the password.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';

let server: net.Server;
let port: number;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe('migrateDatabase against something that is not Postgres', () => {
  it('gives up after its connect deadline with a message naming the address, not the password', async () => {
    const started = performance.now();
    const err = await migrateDatabase(`postgres://agent:s3cret-pw@127.0.0.1:${port}/agent`, createLogger('silent'), { connectDeadlineMs: 1000 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`no Postgres answered at 127.0.0.1:${port}/agent within 1 s`);
    expect((err as Error).message).not.toContain('s3cret-pw');
    expect(performance.now() - started).toBeLessThan(10_000);
  }, 15_000);
});
