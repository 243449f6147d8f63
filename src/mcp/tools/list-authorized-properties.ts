/** list_authorized_properties: the publisher properties this agent sells (AdCP 2.5; 3.x carries the domains in get_adcp_capabilities). */
import { z } from 'zod';
import { defineTool, Envelope } from '../define-tool.js';

export default defineTool({
  name: 'list_authorized_properties',
  title: 'List authorized properties',
  description:
    'List the publisher properties (sites, apps, CTV apps, podcasts) and publisher domains this sales agent is authorized to sell. Optional `publisher_domains` filter.',
  input: z.looseObject({ ...Envelope, publisher_domains: z.array(z.string()).optional() }),
  output: z.looseObject({ publisher_domains: z.array(z.string()).optional(), properties: z.array(z.looseObject({})).optional() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  auth: 'optional',
  async handle(input, ctx) {
    if (!ctx.tenant) return { publisher_domains: [], properties: [] };
    const rows = (await ctx.catalog.get(ctx.tenant.id)).properties.filter((p) => !input.publisher_domains?.length || input.publisher_domains.includes(p.publisherDomain));
    return {
      publisher_domains: [...new Set(rows.map((p) => p.publisherDomain))],
      properties: rows.map((p) => ({
        property_id: p.id,
        property_type: p.propertyType,
        name: p.name,
        identifiers: p.identifiers,
        tags: p.tags,
        publisher_domain: p.publisherDomain,
      })),
    };
  },
});
