/**
 * `sales-agent admin disable-user --tenant T --email E`: the operator can no longer sign in; their sessions end.
 * `sales-agent admin create-user --tenant T --email E [--role admin|viewer]`:
 * bootstraps an operator of the seller console. Prints a one-time password
 * (only its scrypt hash is stored); the first login must replace it.
 * `sales-agent admin rotate-signing-key --tenant T [--revoke]`: retires (or,
 * if it leaked, revokes) the tenant's webhook-signing key and makes a new one
 * (also in the console's API).
 */
import { parseArgs } from 'node:util';
import { resolveDatabase } from '../app.js';
import type { Config } from '../config.js';
import { connect } from '../db/client.js';
import { insertAudit } from '../db/queries/audit.js';
import { getTenant } from '../db/queries/console.js';
import { disableOperator } from '../db/queries/operators.js';
import { rotateWebhookSigningKey } from '../db/queries/signing-keys.js';
import { migrateDatabase } from '../db/migrate.js';
import type { Logger } from '../logger.js';
import { AdminError, createOperatorAccount } from './actions.js';

export async function adminCommand(args: string[], config: Config, logger: Logger, fail: (msg: string) => never): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { tenant: { type: 'string' }, email: { type: 'string' }, role: { type: 'string', default: 'admin' }, revoke: { type: 'boolean', default: false } },
  });
  const sub = positionals[0];
  if (sub !== 'create-user' && sub !== 'disable-user' && sub !== 'rotate-signing-key') fail('admin takes "create-user", "disable-user" or "rotate-signing-key"');
  if (!values.tenant) fail('--tenant is required');
  if ((sub === 'create-user' || sub === 'disable-user') && !values.email) fail('--email is required');
  if (values.role !== 'admin' && values.role !== 'viewer') fail('--role must be admin or viewer');
  const { url, embedded } = await resolveDatabase(config, logger);
  try {
    await migrateDatabase(url, logger);
    const database = connect(url, { max: 2 });
    try {
      if (!(await getTenant(database.db, values.tenant))) fail(`no tenant "${values.tenant}" (seed one first, e.g. sales-agent seed demo)`);
      if (sub === 'rotate-signing-key') {
        const tenantId = values.tenant;
        const { kid, retiredKid } = await database.db.transaction(async (tx) => {
          const rotated = await rotateWebhookSigningKey(tx, tenantId, { revoke: values.revoke });
          await insertAudit(tx, { tenantId, actor: 'cli', operation: 'signing_key.rotate', target: rotated.kid, success: true, details: { retired_kid: rotated.retiredKid, revoked: values.revoke } });
          return rotated;
        });
        process.stdout.write(
          `Webhooks of tenant "${tenantId}" are signed with key ${kid} from now on.\n` +
            (retiredKid && values.revoke ? `Key ${retiredKid} is revoked: it is no longer in /.well-known/jwks.json, so nothing signed with it verifies.\n` : '') +
            (retiredKid && !values.revoke ? `Key ${retiredKid} is retired; it stays in /.well-known/jwks.json for 7 days so webhooks already signed with it still verify.\n` : ''),
        );
        return;
      }
      if (sub === 'disable-user') {
        const tenantId = values.tenant;
        const row = await database.db.transaction(async (tx) => {
          const disabled = await disableOperator(tx, { tenantId, email: values.email! });
          if (disabled) await insertAudit(tx, { tenantId, actor: 'cli', operation: 'user.disable', target: disabled.id, success: true, details: { email: disabled.email } });
          return disabled;
        });
        if (!row) fail(`no enabled operator ${values.email} in tenant "${tenantId}"`);
        process.stdout.write(`Disabled ${row.email} in tenant "${tenantId}": their sign-in and sessions have ended.\n`);
        return;
      }
      const u = await createOperatorAccount(database.db, { tenantId: values.tenant, email: values.email!, role: values.role });
      // The bootstrap is an admin action too.
      await insertAudit(database.db, { tenantId: values.tenant, actor: 'cli', operation: 'user.create', target: u.operator_id, success: true, details: { email: u.email, role: u.role } });
      process.stdout.write(`Created ${u.role} ${u.email} for tenant "${values.tenant}".\nOne-time password (shown once; it must be changed at the first login): ${u.password}\nSign in at /admin/login on the server (e.g. http://${config.host}:${config.port}/admin/login).\n`);
    } catch (err) {
      if (err instanceof AdminError) fail(err.message);
      throw err;
    } finally {
      await database.close();
    }
  } finally {
    await embedded?.stop();
  }
}
